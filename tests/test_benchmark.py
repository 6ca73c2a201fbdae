"""The benchmark tool runs and reports what it promises (no speed is asserted here)."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from conftest import SMALL, last_json_line, run_tool, small_model
from test_configs import TABLE   # the tests' own copy of the published checkpoints

from official.benchmarks import throughput   # the measuring code of tools/benchmark.py


def _run(*flags):
    return last_json_line(run_tool("benchmark.py", *flags))


@pytest.mark.parametrize("mode", ["train", "infer"])
def test_model_modes_report_throughput_settings_and_memory(mode):
    # The small model: the tool's plumbing is the same at any block count.
    r = _run(f"--mode={mode}", "--image_size=32", "--batch_size=2", "--reps=2", "--rep_seconds=0.2",
             "--warmup_steps=1", "--block_counts=" + ",".join(map(str, SMALL)),
             *(["--op_profile", "--conv_floor"] if mode == "train" else []))
    assert r["mode"] == mode and r["depth"] == 50 and r["batch_size"] == 2
    assert r["block_counts"] == list(SMALL)
    assert len(r["img_s"]) == 2 and r["img_s_min"] <= r["img_s_median"] <= r["img_s_max"]
    assert r["img_s_median"] > 0 and r["first_call_s"] > 0
    assert r["maxrss_mib"] > 100 and r["onednn"] is True and r["tf"].startswith("2.")
    if mode == "infer":   # the sliced call, oneDNN's weight cache kept at small batches
        assert r["batch_splits"] == 2 and r["onednn_frozen_weights"] == "1"
    else:                 # the recipe's step: EMA included, and no frozen-weights assumption
        assert r["ema"] is True and r["onednn_frozen_weights"] is None
        # The profile sees the step's kernels: forward and both gradients of the
        # convolutions, batch norm both ways, and the SGD/EMA updates of the variables.
        kinds = r["op_profile"]["kinds"]
        for kind in ("convolution", "convolution filter gradient", "convolution input gradient",
                     "batch norm", "batch norm gradient", "variable update"):
            assert kinds[kind]["s"] > 0, kind
        assert sum(k["share"] for k in kinds.values()) == pytest.approx(1, abs=0.01)
        assert r["op_profile"]["calls"] == 2 and r["op_profile"]["op_s_per_call"] > 0
        # The floor's own profile: its op time is all convolution (what the step's is compared to).
        floor_kinds = r["conv_floor_op_profile"]["kinds"]
        assert sum(v["share"] for k, v in floor_kinds.items() if k.startswith("convolution")) > 0.95
        assert r["conv_floor_img_s"] > 0 and r["of_conv_floor"] > 0
        # CPU time over wall time: something was busy, and no more than every core.
        for busy in (r["cores_busy"], r["conv_floor_cores_busy"]):
            assert 0.2 < busy <= r["cpus"] + 0.1


def test_library_measures_the_trainers_step_from_explicit_arguments():
    # No flags: the library takes every setting as an argument; the step is the trainer's
    # (train_state.create_train_state + train_step.make_train_loop), here without the EMA.
    r = throughput.bench_model("train", 50, 32, 2, block_counts=SMALL, ema=False, reps=1,
                                 rep_seconds=0.05, warmup_steps=0)
    assert r["ema"] is False and r["block_counts"] == list(SMALL) and r["steps_per_call"] == 1
    assert r["img_s_median"] > 0 and r["first_call_s"] > 0
    assert keras.config.dtype_policy().name == "float32"     # the global policy is restored


def test_frozen_weights_only_for_small_batches():
    assert [throughput.frozen_weights_setting("auto", b) for b in (1, 4, 8, 32)] == ["1", "1", "0", "0"]
    assert throughput.frozen_weights_setting("on", 32) == "1"
    assert throughput.frozen_weights_setting("off", 1) == "0"


def test_pareto_points_are_the_published_checkpoints():
    """The benchmark measures the 11 published (depth, size) pairs with their published top-1."""
    want = sorted((depth, size, top1) for depth, size, *_, top1, _ in TABLE.values())
    assert sorted(throughput.PUBLISHED) == want


def _plot(tmp_path, rows, name):
    path = tmp_path / name
    throughput.plot_pareto(rows, str(path), "test")
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size[0] > 800
        return np.asarray(im.convert("RGB")).astype(int)


def test_pareto_plot_draws_the_points(tmp_path):
    rows = [dict(depth=d, image_size=s, top1=t, img_s=100.0 / (i + 1), latency_ms=10.0 * (i + 1))
            for i, (d, s, t) in enumerate(sorted(throughput.PUBLISHED))]
    pixels = _plot(tmp_path, rows, "pareto.png")
    # Both panels hold the line and markers (matplotlib's first colour, #1f77b4).
    blue = (np.abs(pixels - [31, 119, 180]).sum(-1) < 60)
    half = pixels.shape[1] // 2
    assert blue[:, :half].sum() > 200 and blue[:, half:].sum() > 200
    # Other measurements give another plot: the points come from `rows`.
    slower = [dict(r, img_s=r["img_s"] / 7, latency_ms=r["latency_ms"] * 3) for r in rows[:5]]
    assert (np.abs(_plot(tmp_path, slower, "other.png") - pixels).sum(-1) > 0).mean() > 0.001


@pytest.mark.parametrize("mode,policy", [("train", "float32"), ("infer", "float32"),
                                         ("train", "mixed_bfloat16")])
def test_conv_floor_runs_every_convolution_and_nothing_else(mode, policy):
    """What the floor's result depends on (what TensorFlow cannot prune): each conv's
    forward, its filter gradient and, but for the first (it reads the image), its input
    gradient; no batch norm, activation or optimizer op."""
    keras.config.set_dtype_policy(policy)
    try:
        model = small_model(input_shape=(32, 32, 3), num_classes=10)
        graph = throughput.conv_floor_fn(model, mode, 2).get_concrete_function().graph
    finally:
        keras.config.set_dtype_policy("float32")
    seen, todo, ops = set(), [t.op for t in graph.outputs], []
    while todo:
        op = todo.pop()
        if op.name not in seen:
            seen.add(op.name)
            ops.append(op.type)
            todo += [t.op for t in op.inputs] + list(op.control_inputs)
    convs = sum(type(l).__name__ == "Conv2D" for l in model.layers)
    assert convs == 4 + 4 * 6      # stem; per block 3 + 2 SE + the first block's projection
    assert ops.count("Conv2D") == convs
    assert ops.count("Conv2DBackpropFilter") == (convs if mode == "train" else 0)
    assert ops.count("Conv2DBackpropInput") == (convs - 1 if mode == "train" else 0)
    assert not {"FusedBatchNormV3", "Relu", "Sigmoid", "Mean"} & set(ops)
    conv_dtypes = {op.get_attr("T") for op in graph.get_operations() if op.type == "Conv2D"}
    assert conv_dtypes == {tf.bfloat16 if policy == "mixed_bfloat16" else tf.float32}


def test_flags_refused_where_there_is_no_model_step():
    out = run_tool("benchmark.py", "--mode=input", "--conv_floor", timeout=300)
    assert out.returncode != 0 and "--conv_floor needs --mode=train or --mode=infer" in out.stderr
    out = run_tool("benchmark.py", "--mode=input", "--block_counts=1,1,1,1", timeout=300)
    assert out.returncode != 0 and "--block_counts needs --mode=train or --mode=infer" in out.stderr
