"""ONNX Runtime inference of timm's resnetrs50, exported to ONNX at the benchmark's size.

The deployment path a PyTorch user of ResNet-RS takes on a CPU: timm's model exported
with `torch.onnx.export` (float32, NCHW, batch dimension dynamic), run by ONNX Runtime's
CPU execution provider with all graph optimisations (conv + batch norm + activation
fusions). Runs in its own virtual environment:

    python3 -m venv /work/peervenvs/onnx
    /work/peervenvs/onnx/bin/pip install torch==2.13.0 timm onnx onnxruntime

(PyPI's default torch wheel brings the CUDA libraries, ~1.2 GB more; on machines whose pip
finds a local CPU build, as this project's do, `torch==2.13.0` takes that one.)

Usage:
    python official/benchmarks/peers/onnx_resnetrs.py --batch 32 --size 160 --threads 2
    python official/benchmarks/peers/onnx_resnetrs.py --batch 1 --size 160 --threads 2
    python official/benchmarks/peers/onnx_resnetrs.py --batch 1 --threads 2 --op_profile
Final line: RESULT {json} with img_s_median/min/max, the export time, the largest
difference between ONNX Runtime's logits and PyTorch's, and the peak RSS in MiB; with
--op_profile also "op_profile": ONNX Runtime's own profiler (a second session, after the
timing), its kernel time per operator summed by kind of work as ours is
(`tools/benchmark.py --mode=infer --op_profile`), so that the two compare kind by kind.
"""

import argparse
import json
import os
import tempfile
import time
import warnings

from peer_timing import load_op_profile, print_result, stub_torchvision_if_broken, time_steps

p = argparse.ArgumentParser()
p.add_argument("--batch", type=int, default=32)
p.add_argument("--size", type=int, default=160)
p.add_argument("--model", default="resnetrs50", help="timm model name")
p.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0: its default)")
p.add_argument("--opset", type=int, default=17)
p.add_argument("--reps", type=int, default=4)
p.add_argument("--rep-seconds", type=float, default=4.0)
p.add_argument("--op_profile", action="store_true",
               help="after the timing, the kernel time per kind of work (official/benchmarks/op_profile.py)")
a = p.parse_args()

stub_torchvision_if_broken()    # timm imports torchvision; PyPI's may not match the CPU torch
import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import timm  # noqa: E402
import torch  # noqa: E402

model = timm.create_model(a.model, pretrained=False, num_classes=1000).eval()
images = np.random.default_rng(0).standard_normal((a.batch, 3, a.size, a.size), dtype=np.float32)
with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, f"{a.model}.onnx")
    t0 = time.perf_counter()
    warnings.filterwarnings("ignore", "You are using the legacy TorchScript", DeprecationWarning)
    # The TorchScript exporter (dynamo=False): it needs no onnxscript, and gives the plain
    # Conv/BatchNormalization/Relu graph ONNX Runtime fuses.
    torch.onnx.export(model, (torch.zeros(1, 3, a.size, a.size),), path, input_names=["images"],
                      output_names=["logits"], opset_version=a.opset, dynamo=False,
                      dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}})
    export_s = time.perf_counter() - t0
    with open(path, "rb") as f:
        onnx_model = f.read()     # kept: a profiling session is made after the folder is gone


def make_session(profile_prefix=None):
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if a.threads:
        options.intra_op_num_threads = a.threads
        options.inter_op_num_threads = 1
    if profile_prefix:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    return ort.InferenceSession(onnx_model, options, providers=["CPUExecutionProvider"])


session = make_session()
onnx_bytes = len(onnx_model)

with torch.inference_mode():
    reference = model(torch.from_numpy(images)).numpy()
max_abs_diff = float(np.abs(session.run(None, {"images": images})[0] - reference).max())


def step():
    session.run(None, {"images": images})


result = time_steps(step, a.batch, a.reps, a.rep_seconds)
if a.op_profile:
    op_profile = load_op_profile()     # by its path: this venv has no `official` of ours
    calls = 10
    with tempfile.TemporaryDirectory() as folder:
        session = make_session(os.path.join(folder, "ort"))
        for _ in range(calls + 1):
            step()
        with open(session.end_profiling()) as f:
            events = json.load(f)
    runs = sorted(e["ts"] for e in events if e.get("name") == "model_run")
    seconds = {}
    for e in events:   # kernels of every run but the first (its work is not the call's)
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and e["ts"] >= runs[1]:
            op = e["args"]["op_name"]
            seconds[op] = seconds.get(op, 0.0) + e["dur"] * 1e-6
    result["op_profile"] = op_profile.summarize(seconds, calls)
print_result(dict(system=f"onnxruntime {ort.__version__} / timm {timm.__version__} / torch {torch.__version__}",
                  model=a.model, mode="infer", batch=a.batch, size=a.size, precision="float32",
                  threads=a.threads or None, opset=a.opset, export_s=round(export_s, 2),
                  onnx_mib=round(onnx_bytes / 2**20, 1), max_abs_diff_vs_torch=max_abs_diff, **result))
