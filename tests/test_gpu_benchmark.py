"""tools/gpu_benchmark.py: Keras 3 on JAX with TensorFlow refused, its rows, table and flags.

The script runs here on jax[cpu] at the tiny size (`--tiny`), in a subprocess with
KERAS_BACKEND=jax, exactly as on the GPU machine (which has no TensorFlow).
"""

import importlib.util
import json
import os
import subprocess
import sys
import zipfile

import pytest

from conftest import ROOT

from official import published
from official.benchmarks import published_speed

SCRIPT = os.path.join(ROOT, "tools", "gpu_benchmark.py")


def _module():
    """The script as a module (its import sets nothing: no KERAS_BACKEND, no Keras)."""
    spec = importlib.util.spec_from_file_location("gpu_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(tmp_path, *flags, env=None, wrapper=False):
    out = tmp_path / "gpu.json"
    cmd = (["bash", os.path.join(ROOT, "tools", "gpu_benchmark.sh")] if wrapper
           else [sys.executable, SCRIPT]) + [*flags, f"--out={out}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=tmp_path, check=False,
                          env=dict(os.environ, KERAS_BACKEND="jax", **(env or {})))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text()), proc


def _check_ran(result, proc, modes, precisions):
    assert result["backend"] == "cpu" and result["tiny"] is True
    assert result["tensorflow_imported"] is False        # and any import of it would have failed
    rows = {(r["dtype"], r["mode"]): r for r in result["rows"]}
    assert sorted(rows) == sorted((p, m) for p in precisions for m in modes)
    for (precision, mode), row in rows.items():
        ours = row["ours"]
        assert ours["img_s_median"] > 0 and ours["step_ms"] > 0 and ours["first_call_s"] > 0, row
        assert ours["batch"] == {"train": 4, "infer_b1": 1, "infer": 8}[mode]
        assert row["model"] == "RS-50(1,1,1,1)@64" and "official" not in row   # not a published shape
        assert row["timm"] == {"skipped": "--tiny: timm builds only the published depths"}
        assert f"| RS-50(1,1,1,1)@64 | {row['precision']} | {mode} | {ours['batch']} | " in proc.stdout
    assert all(len(line) <= 200 for line in proc.stdout.splitlines())


def test_tiny_inference_runs_on_jax_without_tensorflow(tmp_path):
    # XLA's CPU backend optimisation off: the model compiles in seconds (the times then say
    # nothing about speed; the slow test below runs the optimised training step).
    result, proc = _run(tmp_path, "--tiny", "--precisions=float32", "--modes=infer_b1",
                        env={"XLA_FLAGS": "--xla_backend_optimization_level=0"})
    _check_ran(result, proc, ["infer_b1"], ["float32"])
    assert "note: timm: --tiny: timm builds only the published depths" in proc.stdout


@pytest.mark.slow
def test_tiny_training_and_inference_in_both_precisions_through_the_wrapper(tmp_path):
    # No wheels to install here (WHEELS: an empty folder): the wrapper runs the venv's Keras.
    (tmp_path / "none").mkdir()
    result, proc = _run(tmp_path, "--tiny", wrapper=True,
                        env={"PYTHON": sys.executable, "WHEELS": str(tmp_path / "none")})
    _check_ran(result, proc, ["train", "infer_b1", "infer"], ["bfloat16", "float32"])
    assert "no wheels in" in proc.stderr


def _wheel(folder, name="gpubench_probe", version="1.0"):
    """A minimal pure-Python wheel (one module), as `pip download` leaves them in .whl/."""
    path = folder / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    files = {f"{name}.py": "VALUE = 42\n",
             f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    files[f"{info}/RECORD"] = "".join(f"{f},,\n" for f in [*files, f"{info}/RECORD"])
    with zipfile.ZipFile(path, "w") as z:
        for f, text in files.items():
            z.writestr(f, text)
    return path


def test_wrapper_installs_the_carried_wheels_and_puts_them_on_the_path(tmp_path):
    wheels, site = tmp_path / "whl", tmp_path / "site"
    wheels.mkdir()
    _wheel(wheels)
    proc = subprocess.run(["bash", os.path.join(ROOT, "tools", "gpu_benchmark.sh"), "--help"],
                          capture_output=True, text=True, timeout=300, check=False,
                          env=dict(os.environ, PYTHON=sys.executable, WHEELS=str(wheels), SITE=str(site)))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "--budget_s" in proc.stdout and "--tiny" in proc.stdout
    assert (site / "gpubench_probe.py").read_text() == "VALUE = 42\n"


def test_models_are_the_published_pairs_and_a_bad_one_is_named(capsys):
    gpu = _module()
    assert gpu.parse_models("all") == [(c.depth, c.image_size) for c in published.CHECKPOINTS.values()]
    assert gpu.parse_models("50@160,420@320") == [(50, 160), (420, 320)]
    with pytest.raises(SystemExit):
        gpu.parse_args(["--models=50@160,50@161"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--models: '50@161' is not a published DEPTH@SIZE" in err and "420@320" in err
    with pytest.raises(SystemExit):
        gpu.parse_args(["--modes=train,infer_b2"])
    assert "--modes: ['infer_b2']; choose from train,infer_b1,infer" in capsys.readouterr().err
    args = gpu.parse_args([])
    assert args.models == [(50, 160)] and args.train_batch == 128 and args.budget_s == 240
    assert "KERAS_BACKEND" not in os.environ or os.environ["KERAS_BACKEND"] != "jax"


def test_table_puts_the_official_latencies_beside_the_training_rows(capsys):
    gpu = _module()
    official = published_speed.official_latency(50, 160)
    assert official == {"v100_fp32_s": 0.31, "tpuv3_bf16_ms": 70}
    assert published_speed.official_latency(50, 224) is None
    rows = [dict(model="RS-50@160", mode="train", precision="bfloat16 (mixed)", official=official,
                 ours=dict(batch=128, step_ms=100.0, img_s_median=1280.0), timm=dict(img_s_median=1000.0),
                 ours_vs_timm=1.28),
            dict(model="RS-50@160", mode="infer_b1", precision=gpu.FLOAT32_GPU_LABEL,
                 ours=dict(batch=1, step_ms=2.0, img_s_median=500.0), timm={"skipped": "torch not installed"}),
            dict(model="RS-50@160", mode="infer", precision="bfloat16 (mixed)",
                 ours={"error": "XlaRuntimeError: INTERNAL"}, timm={"skipped": "--budget_s=240 spent"})]
    gpu.print_table(rows, "H200")
    out = capsys.readouterr().out.splitlines()
    assert "| RS-50@160 | bfloat16 (mixed) | train | 128 | 100.0 | 1280.0 | 1000.0 | 1.28 | 0.31 | 70 |" in out
    assert ("| RS-50@160 | float32 (XLA default precision: TF32 matmuls on Hopper) | infer_b1 | 1 | 2.0 | "
            "500.0 | - | - | - | - |") in out
    assert "note: timm: torch not installed" in out and "note: timm: --budget_s=240 spent" in out
    assert "note: RS-50@160 infer ours: XlaRuntimeError: INTERNAL" in out
