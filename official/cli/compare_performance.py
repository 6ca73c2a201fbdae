r"""Our throughput against the Model Garden's, timm's and ONNX Runtime's, interleaved on this machine.

Runs each configuration as its own process, alternating systems (ours, Garden, timm,
ONNX Runtime, ours, Garden, ...) so that a noisy neighbour hits all alike, and prints a Markdown
table of medians and ratios (per interleaved pair, then the median of the pair
ratios) plus one JSON line.

The other systems run from the scripts in official/benchmarks/peers/, each in its own virtual
environment (tf-models-official pins another TensorFlow; timm needs torch):

    python3 -m venv /work/peervenvs/garden
    /work/peervenvs/garden/bin/pip install tf-models-official
    python3 -m venv /work/peervenvs/timm
    /work/peervenvs/timm/bin/pip install torch timm
    python3 -m venv /work/peervenvs/onnx
    /work/peervenvs/onnx/bin/pip install torch==2.13.0 timm onnx onnxruntime

(PyPI's default torch wheel brings ~1.2 GB of CUDA libraries; where pip finds a local
CPU build, as on this project's machines, `torch==2.13.0` installs that one.)
--onnx_python adds ONNX Runtime in the inference modes (infer, infer_b1, and
infer_folded, infer_b1_folded, where our served model folds its batch norms as ONNX
Runtime does): timm's resnetrs50 exported to ONNX at --image_size, float32
(official/benchmarks/peers/onnx_resnetrs.py):

    python tools/compare_performance.py --onnx_python=/work/peervenvs/onnx/bin/python \
        --modes=infer,infer_b1,infer_folded,infer_b1_folded --pairs=2

--device=cpu (default): float32 on the CPU, with the float32 matrix-product ceiling
measured in the same run (official/benchmarks/peers/matmul_ceiling.py) and, with --conv_floor, the
images/s of our convolutions alone (the speed no step on the same kernels can pass)
and which share of it each system reaches. Mode `input` times the training input
pipelines with RandAugment on the same TFRecords (ours: tools/benchmark.py
--mode=input --pipelines=train; the Garden's: official/benchmarks/peers/input_pipeline.py):

    python tools/compare_performance.py --garden_python=/work/peervenvs/garden/bin/python \
        --timm_python=/work/peervenvs/timm/bin/python --pairs=2 --modes=train,infer,infer_b1,input

--device=gpu: on a machine with an NVIDIA GPU, the training step (batch --gpu_batch)
in mixed float16 and mixed bfloat16, each without and with XLA (TensorFlow: XLA
auto-clustering, TF_XLA_FLAGS=--tf_xla_auto_jit=2, for ours and the Garden alike;
timm: torch.compile), the three systems on the same GPU:

    python tools/compare_performance.py --device=gpu --garden_python=... --timm_python=...

FLOPs per image (RS-50 @ 160): 4.567 G forward, 13.70 G per training image (3x forward).
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

from absl import app
from absl import flags

from official import cli  # the CLIs' shared pieces

# The directory that holds our `official` package (the checkout, or site-packages).
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The peers' scripts, shipped with the package; run by other Pythons, so never imported.
PEERS = os.path.join(ROOT, "official", "benchmarks", "peers")
# Our benchmark CLI, as a module: the same command in a checkout and an installed wheel.
OURS = [sys.executable, "-m", "official.cli.benchmark"]
VENV_HELP = {
    "garden": "python3 -m venv /work/peervenvs/garden && "
              "/work/peervenvs/garden/bin/pip install tf-models-official",
    "timm": "python3 -m venv /work/peervenvs/timm && /work/peervenvs/timm/bin/pip install torch timm",
    # torch==2.13.0: where pip finds a local CPU build (this project's machines) it takes
    # that; PyPI's default wheel brings ~1.2 GB of CUDA libraries besides.
    "onnx": "python3 -m venv /work/peervenvs/onnx && "
            "/work/peervenvs/onnx/bin/pip install torch==2.13.0 timm onnx onnxruntime"}
_DEVICE = flags.DEFINE_enum("device", "cpu", ["cpu", "gpu"], "cpu: float32 on the CPU; gpu: mixed precision "
                            "on an NVIDIA GPU, with and without XLA.")
_GARDEN_PYTHON = flags.DEFINE_string(
    "garden_python", "", "Python of a venv with tf-models-official ('' skips); "
    "create it with: " + VENV_HELP["garden"])
_TIMM_PYTHON = flags.DEFINE_string(
    "timm_python", "", "Python of a venv with torch + timm ('' skips); create it "
    "with: " + VENV_HELP["timm"])
_ONNX_PYTHON = flags.DEFINE_string(
    "onnx_python", "", "CPU: Python of a venv with torch, timm, onnx and onnxruntime ('' skips): timm's "
    "resnetrs50 exported to ONNX, ONNX Runtime inference in modes infer, infer_b1 and their _folded (float32); "
    "create it with: " + VENV_HELP["onnx"])
_PAIRS = flags.DEFINE_integer("pairs", 3, "Interleaved repetitions of each comparison.")
_MODES = flags.DEFINE_list(
    "modes", ["train", "infer", "infer_b1"],
    "CPU: train (b32; our step with its EMA), train_noema (b32; our step without the EMA, "
    "like the Garden/timm scripts' steps), infer (b32), infer_b1, input (training input "
    "with RandAugment, ours against the Garden's); infer_folded, infer_b1_folded: ours with "
    "the batch norms folded (export --fold_batch_norm) against ONNX Runtime, which folds them "
    "too; train_bf16, infer_bf16, infer_b1_bf16: ours in bfloat16 against their float32 (list "
    "the float32 mode too: they are not run again).")
_TIMM_MODES = flags.DEFINE_list(
    "timm_modes", ["train", "infer", "infer_b1"], "Modes timm runs in (with --timm_python).")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 160, "Input side (ResNet-RS-50).")
_THREADS = flags.DEFINE_integer("threads", 2, "CPU threads for every system.")
_PRECISION = flags.DEFINE_string("precision", "float32", "Our precision on the CPU (float32 | bfloat16).")
_CONV_FLOOR = flags.DEFINE_bool(
    "conv_floor", True, "CPU: also time our convolutions alone (first pair of each mode).")
_EXTRA = flags.DEFINE_string("extra", "", "Extra flags for our benchmark (e.g. --fused_batch_norm=false).")
_REPS = flags.DEFINE_integer("reps", 4, "Timed repetitions inside each process.")
_REP_SECONDS = flags.DEFINE_float(
    "rep_seconds", 0, "Seconds per repetition (0: 8 for training, 4 otherwise).")
_CEILING_N = flags.DEFINE_integer("ceiling_n", 4096, "Side of the matrices of the CPU ceiling's product.")
_INPUT_DATA_DIR = flags.DEFINE_string(
    "input_data_dir", "", "Mode input: TFRecords both pipelines read ('' : "
    "--input_num_images generated JPEGs in a temporary folder, removed after).")
_INPUT_NUM_IMAGES = flags.DEFINE_integer(
    "input_num_images", 2000, "Mode input: JPEGs to generate when --input_data_dir "
    "is empty.", lower_bound=1)
_INPUT_LABEL_OFFSET = flags.DEFINE_integer(
    "input_label_offset", 1, "Mode input: our --label_offset for those TFRecords (1: "
    "the official 1-based layout, as the generated ones; 0 for 0-based labels).")
_GPU_BATCH = flags.DEFINE_integer("gpu_batch", 128, "GPU: training batch size.")
_GPU_PRECISIONS = flags.DEFINE_list(
    "gpu_precisions", ["float16", "bfloat16"], "GPU: mixed precisions measured.")

# --modes -> (our benchmark's --mode, batch size, our extra flags). The _bf16 modes run our
# mixed_bfloat16 path against the others' float32 (their CPU runs are float32 only).
MODES = {"train": ("train", 32, ()), "train_noema": ("train", 32, ("--ema=false",)),
         "infer": ("infer", 32, ()), "infer_b1": ("infer", 1, ()),
         "input": ("input", 32, ()),
         "infer_folded": ("infer", 32, ("--fold_batch_norm",)),
         "infer_b1_folded": ("infer", 1, ("--fold_batch_norm",)),
         "train_bf16": ("train", 32, ("--precision=bfloat16",)),
         "infer_bf16": ("infer", 32, ("--precision=bfloat16",)),
         "infer_b1_bf16": ("infer", 1, ("--precision=bfloat16",))}
FORWARD_GFLOP = 4.567  # RS-50 @ 160: 4.567 GFLOP per image forward (~ side squared)
XLA_ENV = {"TF_XLA_FLAGS": "--tf_xla_auto_jit=2"}
# The modes ONNX Runtime runs in: inference only, float32 (the exported graph's). It folds
# batch norm into the convolutions itself, so the _folded modes are like for like.
ONNX_MODES = ("infer", "infer_b1", "infer_folded", "infer_b1_folded")


def _run(cmd, foreign=False, env_extra=None, drop_env=()):
    """Runs one measurement process; `foreign` ones must not see our `official` package
    (the Garden's package has the same name), so they get no PYTHONPATH and run in
    official/benchmarks/peers (their helper module is there, our package is not)."""
    print("$", " ".join(f"{k}={v}" for k, v in (env_extra or {}).items()), " ".join(cmd),
          file=sys.stderr, flush=True)
    env = dict(os.environ, **(env_extra or {}))
    if foreign:
        env.pop("PYTHONPATH", None)
    for name in drop_env:
        env.pop(name, None)
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False,
                         cwd=PEERS if foreign else ROOT)
    text = out.stdout + out.stderr
    if out.returncode != 0:
        raise RuntimeError(f"{cmd[0]} exited {out.returncode}:\n{text[-3000:]}")
    return text


def _last_json(text, prefix=""):
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith(prefix + "{"):
            return json.loads(line[len(prefix):])
    raise RuntimeError(f"no JSON result in output:\n{text[-2000:]}")


def _rep_seconds(mode):
    return _REP_SECONDS.value or (8.0 if mode == "train" else 4.0)


def check_python(name, python):
    """Exits with the venv's creation commands when `python` is set but cannot run."""
    if python and not (os.path.isfile(python) and os.access(python, os.X_OK)):
        raise app.UsageError(f"--{name}_python={python}: no such executable; create the virtual "
                             f"environment with:\n    {VENV_HELP[name]}")


# ------------------------------------------------------------------------------ CPU
def ours(mode, batch, extra=()):
    """(images/s, peak RSS MiB, convolutions-alone images/s or None)."""
    cmd = OURS + [f"--mode={mode}",
           f"--batch_size={batch}", f"--image_size={_IMAGE_SIZE.value}", f"--threads={_THREADS.value}",
           f"--reps={_REPS.value}", f"--rep_seconds={_rep_seconds(mode)}"]
    if mode == "input":
        cmd += ["--pipelines=train", f"--data_dir={_input_dir()}",
                f"--label_offset={_INPUT_LABEL_OFFSET.value}"]
        cmd = [c for c in cmd if not c.startswith("--threads")]   # tf.data sizes its own pools
    cmd += list(extra) + ([_EXTRA.value] if _EXTRA.value and mode != "input" else [])
    r = _last_json(_run(cmd))
    if mode == "input":
        return r["train"]["img_s_median"], r["maxrss_mib"], None
    return r["img_s_median"], r["maxrss_mib"], r.get("conv_floor_img_s")


def garden(mode, batch):
    if mode == "input":
        cmd = [_GARDEN_PYTHON.value, "input_pipeline.py", "--data", _input_dir(),
               "--batch", str(batch), "--size", str(_IMAGE_SIZE.value), "--reps", str(_REPS.value),
               "--rep-seconds", str(_rep_seconds(mode))]
    else:
        cmd = [_GARDEN_PYTHON.value, "garden_resnetrs.py", "--mode", mode, "--batch", str(batch),
               "--size", str(_IMAGE_SIZE.value), "--reps", str(_REPS.value),
               "--rep-seconds", str(_rep_seconds(mode))]
    r = _last_json(_run(cmd, foreign=True), "RESULT ")
    return r["img_s_median"], r.get("maxrss_mib")


def timm(mode, batch):
    cmd = [_TIMM_PYTHON.value, "timm_resnetrs.py", "--stub-torchvision", "--mode", mode,
           "--batch", str(batch), "--size", str(_IMAGE_SIZE.value), "--channels-last",
           "--threads", str(_THREADS.value), "--reps", str(_REPS.value),
           "--rep-seconds", str(_rep_seconds(mode))]
    if batch > 1:
        cmd.append("--compile")
    r = _last_json(_run(cmd, foreign=True), "RESULT ")
    return r["img_s_median"], r.get("maxrss_mib")


def onnx_command(python, batch, size, threads, reps, rep_seconds):
    """The ONNX Runtime peer's command (official/benchmarks/peers/onnx_resnetrs.py, run in PEERS).

    Example:
        >>> onnx_command("/v/bin/python", 32, 160, 2, 4, 4.0)[:4]
        ['/v/bin/python', 'onnx_resnetrs.py', '--batch', '32']
    """
    return [python, "onnx_resnetrs.py", "--batch", str(batch), "--size", str(size), "--threads", str(threads),
            "--reps", str(reps), "--rep-seconds", str(rep_seconds)]


def onnx(mode, batch):
    del mode   # inference only (ONNX_MODES)
    cmd = onnx_command(_ONNX_PYTHON.value, batch, _IMAGE_SIZE.value, _THREADS.value, _REPS.value,
                       _rep_seconds("infer"))
    r = _last_json(_run(cmd, foreign=True), "RESULT ")
    return r["img_s_median"], r.get("maxrss_mib")


def cpu_peers(mode, garden_python="", timm_python="", onnx_python="", timm_modes=()):
    """The other systems run right after ours in `mode` (a --modes name), in order.

    The _bf16 modes run none (they divide by the others' float32 medians of the same run);
    the _folded modes ONNX Runtime only (the others are measured in the mode without
    _folded); timm runs in `timm_modes`; ONNX Runtime in inference (ONNX_MODES) only.

    Example:
        >>> cpu_peers("infer_b1", "/g/python", "", "/o/python")
        ['garden', 'onnx']
        >>> cpu_peers("infer_b1_folded", "/g/python", "", "/o/python")
        ['onnx']
    """
    if mode.endswith("_bf16"):
        return []
    if mode.endswith("_folded"):
        return ["onnx"] if onnx_python else []
    chosen = []
    if garden_python:
        chosen.append("garden")
    if timm_python and mode in timm_modes:
        chosen.append("timm")
    if onnx_python and mode in ONNX_MODES:
        chosen.append("onnx")
    return chosen


def ceiling():
    cmd = [sys.executable, "matmul_ceiling.py", "--threads", str(_THREADS.value),
           "--n", str(_CEILING_N.value)]
    # Some hosts pin OpenBLAS to an older kernel (OPENBLAS_CORETYPE=Haswell) to dodge bugs of
    # old builds; numpy's current OpenBLAS picks the CPU's own (SkylakeX on AVX-512 CPUs,
    # twice the Haswell kernel's speed there), and the ceiling must be the CPU's, not the pin's.
    r = _last_json(_run(cmd, foreign=True, drop_env=("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")),
                   "RESULT ")
    return r["gflops_median"]


def cpu_description():
    """'model name, N CPUs, isa flags' from /proc/cpuinfo (every CPU lists the same)."""
    try:
        with open("/proc/cpuinfo") as f:
            info = dict(line.split(":", 1) for line in f if ":" in line)
    except OSError:
        return f"unknown CPU, {os.cpu_count()} CPUs"
    info = {k.strip(): v.strip() for k, v in info.items()}
    isa = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in info.get("flags", "").split()]
    return f"{info.get('model name', '?')}, {os.cpu_count()} CPUs, {' '.join(isa)}"


# The folder --modes=input generated when --input_data_dir is empty (removed after the run).
_MADE_INPUT = {"dir": ""}


def _input_dir():
    return _INPUT_DATA_DIR.value or _MADE_INPUT["dir"]


def _make_input_data():
    # The library's writer, not tools/benchmark.py: importing a CLI defines its flags twice.
    from official.benchmarks import throughput as throughput_lib  # pylint: disable=g-import-not-at-top
    folder = tempfile.mkdtemp(prefix="compare_input_")
    print(f"writing {_INPUT_NUM_IMAGES.value} JPEGs to {folder}", file=sys.stderr, flush=True)
    throughput_lib.make_bench_tfrecords(folder, _INPUT_NUM_IMAGES.value)
    return folder


def run_cpu():
    unknown = set(_MODES.value) - set(MODES)
    if unknown:
        raise app.UsageError(f"--modes: unknown {sorted(unknown)}; choose from {list(MODES)}")
    made_data = None
    if "input" in _MODES.value and not _INPUT_DATA_DIR.value:
        made_data = _MADE_INPUT["dir"] = _make_input_data()
    try:
        return _run_cpu_modes()
    finally:
        if made_data:
            shutil.rmtree(made_data, ignore_errors=True)


def _run_cpu_modes():
    # The ceiling before and after (the higher: a co-tenant only ever lowers it).
    gflops_before = ceiling()
    runners = {"garden": garden, "timm": timm, "onnx": onnx}
    others = [(name, runners[name]) for name, python in (("garden", _GARDEN_PYTHON.value),
              ("timm", _TIMM_PYTHON.value), ("onnx", _ONNX_PYTHON.value)) if python]
    rows = []
    for mode in _MODES.value:
        kind, batch, extra = MODES[mode]
        extra = [f"--precision={_PRECISION.value}", *extra] if kind != "input" else []
        results = {"ours": []}
        ratios = {name: [] for name, _ in others}
        for pair in range(_PAIRS.value):
            floor = _CONV_FLOOR.value and pair == 0 and kind != "input"
            mine = ours(kind, batch, extra + (["--conv_floor"] if floor else []))
            results["ours"].append(mine)
            print(f"  {mode} ours: {mine}", file=sys.stderr, flush=True)
            for name in cpu_peers(mode, _GARDEN_PYTHON.value, _TIMM_PYTHON.value, _ONNX_PYTHON.value,
                                  _TIMM_MODES.value):
                theirs = runners[name](kind, batch)
                results.setdefault(name, []).append(theirs)
                print(f"  {mode} {name}: {theirs}", file=sys.stderr, flush=True)
                ratios[name].append(mine[0] / theirs[0])
        ratios = {k: v for k, v in ratios.items() if v}
        flop = 0 if kind == "input" else (FORWARD_GFLOP * (_IMAGE_SIZE.value / 160) ** 2
                                           * (3 if kind == "train" else 1))
        med = {k: statistics.median(v[0] for v in vals) for k, vals in results.items()}
        rss = {k: max(v[1] or 0 for v in vals) for k, vals in results.items()}
        floor = results["ours"][0][2]
        rows.append(dict(mode=mode, batch=batch, img_s=med, maxrss_mib=rss, conv_floor_img_s=floor,
                         of_conv_floor={k: round(v / floor, 3) for k, v in med.items()} if floor else {},
                         ratio_vs={k: round(statistics.median(v), 3) for k, v in ratios.items()},
                         ratio_pairs={k: [round(x, 3) for x in v] for k, v in ratios.items()},
                         gflop_per_img=flop))
    gflops_after = ceiling()
    gflops = max(gflops_before, gflops_after)
    for r in rows:
        r["ours_fraction_of_ceiling"] = round(r["img_s"]["ours"] * r["gflop_per_img"] / gflops, 3)
    by_mode = {r["mode"]: r for r in rows}
    for r in rows:
        base = by_mode.get(r["mode"].replace("_bf16", ""))
        if r["mode"].endswith("_bf16") and base:
            r["ours_bf16_vs_float32"] = round(r["img_s"]["ours"] / base["img_s"]["ours"], 3)
            for name, value in base["img_s"].items():
                if name != "ours":    # medians of the same run, not interleaved pairs
                    r["ratio_vs"][name] = round(r["img_s"]["ours"] / value, 3)
    print(f"\nCPU: {cpu_description()}")
    print(f"numpy sgemm ceiling: {gflops:.1f} GFLOP/s ({gflops_before:.1f} before, {gflops_after:.1f} "
          f"after), {_THREADS.value} threads\n")
    names = ["ours"] + [n for n, _ in others]
    print("| mode | " + " | ".join(f"{n} img/s" for n in names) + " | " +
          " | ".join(f"ours/{n} (pairs)" for n, _ in others) + " | ours % of ceiling | peak RSS MiB (" +
          ", ".join(names) + ") |")
    print("|" + "---|" * (3 + 2 * len(others) + 1))
    for r in rows:
        cell = lambda d, n, f: format(d[n], f) if n in d else "-"  # noqa: E731
        pairs = lambda n: (f" ({', '.join(f'{x:.2f}' for x in r['ratio_pairs'][n])})"  # noqa: E731
                           if n in r["ratio_pairs"] else "")
        share = f"{100 * r['ours_fraction_of_ceiling']:.0f}%" if r["gflop_per_img"] else "-"
        print(f"| {r['mode']} | " + " | ".join(cell(r["img_s"], n, ".2f") for n in names) + " | " +
              " | ".join(cell(r["ratio_vs"], n, ".2f") + pairs(n) for n, _ in others) +
              f" | {share} | " + ", ".join(cell(r["maxrss_mib"], n, ".0f") for n in names) + " |")
    for r in rows:
        if r["conv_floor_img_s"]:
            print(f"{r['mode']}: our convolutions alone {r['conv_floor_img_s']:.2f} img/s; share reached: " +
                  ", ".join(f"{n} {100 * v:.0f}%" for n, v in r["of_conv_floor"].items()))
    for r in rows:
        if "ours_bf16_vs_float32" in r:
            print(f"ours bfloat16 / float32, {r['mode']}: {r['ours_bf16_vs_float32']:.2f}")
    print(json.dumps(dict(device="cpu", cpu=cpu_description(), ceiling_gflops=gflops,
                          ceiling_before=gflops_before, ceiling_after=gflops_after, rows=rows)))
    return rows


# ------------------------------------------------------------------------------ GPU
def gpu_plan(batch, size, precisions, garden_python="", timm_python="", reps=4, rep_seconds=4.0):
    """The GPU measurements: [(config, system, command, extra environment)], in run order.

    One config per (precision, XLA off/on); within a config the systems alternate.

    Example:
        >>> [(c, s) for c, s, _, _ in gpu_plan(128, 160, ["float16"])][:2]
        [('float16', 'ours'), ('float16+xla', 'ours')]
    """
    plan = []
    timing = ["--reps", str(reps), "--rep-seconds", str(rep_seconds)]
    for precision in precisions:
        for xla in (False, True):
            config = precision + ("+xla" if xla else "")
            env = dict(XLA_ENV) if xla else {}
            plan.append((config, "ours", [
                *OURS, "--mode=train",
                f"--batch_size={batch}", f"--image_size={size}", f"--precision={precision}",
                "--onednn=default", f"--reps={reps}", f"--rep_seconds={rep_seconds}"], env))
            if garden_python:
                plan.append((config, "garden", [
                    garden_python, "garden_resnetrs.py", "--mode", "train", "--device", "gpu",
                    "--batch", str(batch), "--size", str(size), "--precision", precision] + timing, env))
            if timm_python:
                plan.append((config, "timm", [
                    timm_python, "timm_resnetrs.py", "--stub-torchvision", "--mode", "train",
                    "--device", "cuda", "--amp", precision, "--channels-last", "--batch", str(batch),
                    "--size", str(size)] + (["--compile"] if xla else []) + timing, {}))
    return plan


def gpu_name():
    """The NVIDIA GPU of this machine (nvidia-smi), or None where there is none."""
    if not shutil.which("nvidia-smi"):
        return None
    out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
                         capture_output=True, text=True, check=False)
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None


def run_gpu():
    name = gpu_name()
    if not name:
        raise app.UsageError("--device=gpu: no NVIDIA GPU here (nvidia-smi is missing or lists none)")
    plan = gpu_plan(_GPU_BATCH.value, _IMAGE_SIZE.value, _GPU_PRECISIONS.value, _GARDEN_PYTHON.value,
                    _TIMM_PYTHON.value, _REPS.value, _rep_seconds("gpu"))
    results = {}
    for _ in range(_PAIRS.value):
        for config, system, cmd, env in plan:
            try:
                r = _last_json(_run(cmd, foreign=system != "ours", env_extra=env),
                               "" if system == "ours" else "RESULT ")
                value = r["img_s_median"]
            except RuntimeError as e:      # e.g. one system lacks a kernel: report, go on
                print(f"  {config} {system}: failed: {str(e)[-500:]}", file=sys.stderr, flush=True)
                value = None
            results.setdefault(config, {}).setdefault(system, []).append(value)
            print(f"  {config} {system}: {value}", file=sys.stderr, flush=True)
    systems = ["ours"] + [s for s, p in (("garden", _GARDEN_PYTHON.value), ("timm", _TIMM_PYTHON.value)) if p]
    rows = []
    for config, by_system in results.items():
        med = {s: statistics.median(v for v in vals if v) for s, vals in by_system.items()
               if any(vals)}
        ratios = {}
        for s in systems[1:]:
            pairs = [a / b for a, b in zip(by_system["ours"], by_system.get(s, [])) if a and b]
            if pairs:
                ratios[s] = round(statistics.median(pairs), 3)
        rows.append(dict(config=config, batch=_GPU_BATCH.value, img_s=med, ratio_vs=ratios))
    print(f"\nGPU: {name}; training step, RS-50 at {_IMAGE_SIZE.value}, batch {_GPU_BATCH.value}\n")
    print("| precision | " + " | ".join(f"{s} img/s" for s in systems) + " | " +
          " | ".join(f"ours/{s}" for s in systems[1:]) + " |")
    print("|" + "---|" * (1 + 2 * len(systems) - 1))
    for r in rows:
        print(f"| {r['config']} | " + " | ".join(format(r["img_s"][s], ".1f") if s in r["img_s"] else "-"
                                                for s in systems) + " | " +
              " | ".join(format(r["ratio_vs"][s], ".2f") if s in r["ratio_vs"] else "-"
                         for s in systems[1:]) + " |")
    print(json.dumps(dict(device="gpu", gpu=name, rows=rows)))
    return rows


def main(argv):
    del argv
    check_python("garden", _GARDEN_PYTHON.value)
    check_python("timm", _TIMM_PYTHON.value)
    check_python("onnx", _ONNX_PYTHON.value)
    if _ONNX_PYTHON.value and _DEVICE.value == "gpu":
        raise app.UsageError("--onnx_python: ONNX Runtime runs on the CPU path only (--device=cpu)")
    if _ONNX_PYTHON.value and not set(_MODES.value) & set(ONNX_MODES):
        raise app.UsageError(f"--onnx_python: ONNX Runtime runs in modes {', '.join(ONNX_MODES)}; "
                             f"--modes={','.join(_MODES.value)} has neither")
    if _DEVICE.value == "gpu":
        run_gpu()
    else:
        run_cpu()


def run():
    """The console script (pyproject.toml [project.scripts])."""
    cli.run_main(__name__, main, tensorflow=False)   # it runs the others' processes


if __name__ == "__main__":
    run()
