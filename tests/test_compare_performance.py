"""tools/compare_performance.py and its peer scripts: the CPU path end to end on our side,
the GPU plan, the ONNX Runtime peer, and the help a user without the peer environments gets."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(ROOT, "tools", "compare_performance.py")
from official.cli import compare_performance  # noqa: E402  pylint: disable=wrong-import-position


def _run(*flags):
    return subprocess.run([sys.executable, TOOL, *flags], capture_output=True, text=True,
                          timeout=600, cwd=ROOT, check=False)


def test_the_peer_scripts_are_in_the_repository_and_standalone():
    peers = os.path.join(ROOT, "official", "benchmarks", "peers")
    for name in ("garden_resnetrs.py", "timm_resnetrs.py", "input_pipeline.py", "matmul_ceiling.py",
                 "peer_timing.py", "onnx_resnetrs.py"):
        text = open(os.path.join(peers, name)).read()
        # They run in other systems' environments: never our package, never ../shared.
        assert "from official import precision" not in text and "../shared" not in text, name
    out = subprocess.run([sys.executable, "matmul_ceiling.py", "--n", "128", "--reps", "2"],
                         capture_output=True, text=True, cwd=peers, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1][len("RESULT "):])
    assert result["gflops_median"] > 0 and result["maxrss_mib"] > 0


def test_a_missing_peer_environment_says_how_to_create_it():
    out = _run("--garden_python=/nonexistent/bin/python")
    assert out.returncode != 0
    assert "pip install tf-models-official" in out.stderr and "python3 -m venv" in out.stderr


# The ONNX Runtime peer's environment, where this machine has one (docs/performance.md).
ONNX_PYTHON = os.environ.get("ONNX_PYTHON", "/work/peervenvs/onnx/bin/python")


def test_a_missing_onnx_environment_says_how_to_create_it_and_onnx_needs_an_inference_mode():
    out = _run("--onnx_python=/nonexistent/bin/python")
    assert out.returncode != 0
    assert "pip install torch==2.13.0 timm onnx onnxruntime" in out.stderr
    out = _run(f"--onnx_python={sys.executable}", "--modes=train,input")
    assert out.returncode != 0 and "ONNX Runtime runs in modes infer, infer_b1" in out.stderr
    out = _run(f"--onnx_python={sys.executable}", "--device=gpu")
    assert out.returncode != 0 and "CPU path only" in out.stderr


def test_onnx_runtime_runs_after_ours_in_the_inference_modes_only():
    peers = compare_performance.cpu_peers
    assert peers("infer", "/g", "/t", "/o", ["train", "infer"]) == ["garden", "timm", "onnx"]
    assert peers("infer_b1", "", "/t", "/o", ["train"]) == ["onnx"]
    assert peers("train", "/g", "/t", "/o", ["train"]) == ["garden", "timm"]
    assert peers("input", "/g", "", "/o") == ["garden"]
    assert peers("infer_bf16", "/g", "/t", "/o", ["infer"]) == []   # divided by their float32 medians
    # Folded: against ONNX Runtime, which folds batch norm too; the others ran unfolded already.
    assert peers("infer_b1_folded", "/g", "/t", "/o", ["infer_b1"]) == ["onnx"]
    assert peers("infer_folded", "/g", "/t", "") == []
    cmd = compare_performance.onnx_command("/o/bin/python", 1, 160, 2, 4, 4.0)
    assert cmd == ["/o/bin/python", "onnx_resnetrs.py", "--batch", "1", "--size", "160", "--threads", "2",
                   "--reps", "4", "--rep-seconds", "4.0"]
    assert os.path.isfile(os.path.join(compare_performance.PEERS, cmd[1]))


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isfile(ONNX_PYTHON), reason=f"no ONNX Runtime environment at {ONNX_PYTHON} "
                    "(create it as docs/performance.md says, or set ONNX_PYTHON)")
def test_onnx_peer_exports_timm_resnetrs50_and_times_onnx_runtime():
    cmd = compare_performance.onnx_command(ONNX_PYTHON, 2, 64, 2, 1, 0.2) + ["--op_profile"]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=compare_performance.PEERS, timeout=600,
                         check=False, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1][len("RESULT "):])
    assert result["system"].startswith("onnxruntime ") and result["model"] == "resnetrs50"
    assert result["batch"] == 2 and result["size"] == 64 and result["img_s_median"] > 0
    # The exported graph computes PyTorch's logits (float32; fusions reorder the sums).
    assert result["max_abs_diff_vs_torch"] < 1e-3 and result["onnx_mib"] > 50
    # ONNX Runtime's own profiler, in our kinds: its convolutions (batch norm folded into
    # them), the squeeze-excite and residual arithmetic, and the head's matrix product.
    profile = result["op_profile"]
    assert profile["calls"] == 10 and profile["op_s_per_call"] > 0
    for kind in ("convolution", "element-wise arithmetic", "reduction", "matrix product"):
        assert profile["kinds"][kind]["s"] > 0, (kind, profile["kinds"])
    assert profile["kinds"]["convolution"]["share"] > 0.5 and "other" not in {op[1] for op in profile["top_ops"][:4]}


# The Model Garden's environment, where this machine has one (docs/performance.md).
GARDEN_PYTHON = os.environ.get("GARDEN_PYTHON", "/work/peervenvs/garden/bin/python")


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isfile(GARDEN_PYTHON), reason=f"no Model Garden environment at {GARDEN_PYTHON} "
                    "(create it as docs/performance.md says, or set GARDEN_PYTHON)")
def test_garden_peer_profiles_its_step_with_our_op_profile(tmp_path):
    # Run from elsewhere: in that venv `official` must be the Garden's package, never ours.
    script = os.path.join(compare_performance.PEERS, "garden_resnetrs.py")
    out = subprocess.run([GARDEN_PYTHON, script, "--mode", "train", "--batch", "2", "--size", "64", "--reps", "1",
                          "--rep-seconds", "0.2", "--op_profile"], capture_output=True, text=True, cwd=tmp_path,
                         timeout=600, check=False, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1][len("RESULT "):])
    assert result["system"].startswith("tf-models-official ") and result["img_s_median"] > 0
    profile = result["op_profile"]
    assert profile["calls"] == 2 and profile["op_s_per_call"] > 0
    # A training step: forward convolutions and both gradients of them, and batch norm.
    for kind in ("convolution", "convolution filter gradient", "convolution input gradient", "batch norm"):
        assert profile["kinds"][kind]["s"] > 0, (kind, profile["kinds"])
    assert abs(sum(k["share"] for k in profile["kinds"].values()) - 1) < 0.01


def test_gpu_mode_needs_a_gpu_and_plans_every_precision_with_and_without_xla():
    if compare_performance.gpu_name() is None:
        out = _run("--device=gpu")
        assert out.returncode != 0 and "no NVIDIA GPU" in out.stderr
    plan = compare_performance.gpu_plan(128, 160, ["float16", "bfloat16"], "/g/python", "/t/python")
    assert [(c, s) for c, s, _, _ in plan][:3] == [("float16", "ours"), ("float16", "garden"),
                                                   ("float16", "timm")]
    assert sorted({c for c, _, _, _ in plan}) == ["bfloat16", "bfloat16+xla", "float16", "float16+xla"]
    by = {(c, s): (cmd, env) for c, s, cmd, env in plan}
    ours_cmd, ours_env = by[("bfloat16+xla", "ours")]
    assert "--precision=bfloat16" in ours_cmd and "--batch_size=128" in ours_cmd
    assert ours_env == by[("bfloat16+xla", "garden")][1] == {"TF_XLA_FLAGS": "--tf_xla_auto_jit=2"}
    assert by[("float16", "garden")][1] == {}          # no XLA: the same step, no compiler
    garden_cmd = by[("float16", "garden")][0]
    assert garden_cmd[:2] == ["/g/python", "garden_resnetrs.py"] and "gpu" in garden_cmd
    timm_xla, timm_plain = by[("float16+xla", "timm")][0], by[("float16", "timm")][0]
    assert "--compile" in timm_xla and "--compile" not in timm_plain and "cuda" in timm_plain
    assert all(os.path.isfile(os.path.join(compare_performance.PEERS, cmd[1]))
               for _, s, cmd, _ in plan if s != "ours")


@pytest.mark.slow
def test_cpu_path_measures_ours_against_the_ceiling_and_prints_the_table():
    # Mode input with no --input_data_dir writes its own TFRecords (and removes them).
    out = _run("--modes=infer_b1,input", "--input_num_images=64", "--pairs=1", "--image_size=32",
               "--conv_floor=false", "--reps=2", "--rep_seconds=0.3", "--ceiling_n=256")
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    assert result["device"] == "cpu" and result["ceiling_gflops"] > 0
    rows = {row["mode"]: row for row in result["rows"]}
    assert sorted(rows) == ["infer_b1", "input"]
    for row in rows.values():
        assert row["img_s"]["ours"] > 0 and row["ratio_vs"] == {}
    assert "writing 64 JPEGs to " in out.stderr
    assert any(line.startswith("| infer_b1 | ") for line in lines)
    assert any(line.startswith("CPU: ") for line in lines)
