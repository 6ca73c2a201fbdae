"""The benchmark tool runs and reports what it promises (no speed is asserted here)."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from conftest import SMALL, last_json_line, run_tool, small_model
from test_configs import TABLE   # the tests' own copy of the published checkpoints

from official.benchmarks import pareto        # the speed-accuracy curve (--pareto)
from official.benchmarks import published_speed
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
        assert r["batch_norm_folded"] is False         # float32: as an export serves by default
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


def test_inference_with_the_batch_norms_folded_as_export_fold_batch_norm_serves():
    r = throughput.bench_model("infer", 50, 32, 2, block_counts=SMALL, fold_batch_norm=True, reps=1,
                               rep_seconds=0.05, warmup_steps=0)
    assert r["batch_norm_folded"] is True and r["img_s_median"] > 0


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
    pareto.plot_pareto(rows, str(path), "test")
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size[0] >= 600
        return np.asarray(im.convert("RGB")).astype(int)


def _rows():
    """Made-up speeds for every point of the curve (bigger models slower)."""
    return [dict(family=p.family, label=p.label, top1=p.top1, train_img_s=10.0 / (i + 1),
                 img_s=100.0 / (i + 1), latency_ms=10.0 * (i + 1))
            for i, p in enumerate(sorted(pareto.POINTS, key=lambda p: p.top1))]


def test_pareto_plot_draws_both_families_in_every_measured_mode(tmp_path):
    rows = _rows()
    pixels = _plot(tmp_path, rows, "pareto.png")
    # matplotlib's first two colours: ResNet-RS #1f77b4, EfficientNet #ff7f0e, in each third.
    blue = np.abs(pixels - [31, 119, 180]).sum(-1) < 60
    orange = np.abs(pixels - [255, 127, 14]).sum(-1) < 60
    third = pixels.shape[1] // 3
    for k in range(3):
        panel = slice(k * third, (k + 1) * third)
        assert blue[:, panel].sum() > 200 and orange[:, panel].sum() > 200, k
    # Other measurements give another plot: the points come from `rows`.
    slower = [dict(r, img_s=r["img_s"] / 7, latency_ms=r["latency_ms"] * 3) for r in rows[:9]]
    assert (np.abs(_plot(tmp_path, slower, "other.png") - pixels).sum(-1) > 0).mean() > 0.001
    # Only the modes measured get a panel: training alone is one panel, half as wide.
    only_train = [{k: v for k, v in r.items() if k not in ("img_s", "latency_ms")} for r in rows]
    assert _plot(tmp_path, only_train, "train.png").shape[1] < pixels.shape[1] / 2


def test_efficientnets_are_the_papers_and_each_is_compared_with_the_next_resnet_rs_up():
    assert [(p.label, p.top1) for p in pareto.parse_points("efficientnet")] == [
        ("EfficientNet-B0@224", 77.1), ("EfficientNet-B1@240", 79.1), ("EfficientNet-B2@260", 80.1),
        ("EfficientNet-B3@300", 81.6), ("EfficientNet-B4@380", 82.9), ("EfficientNet-B5@456", 83.6),
        ("EfficientNet-B6@528", 84.0), ("EfficientNet-B7@600", 84.3)]
    assert len(pareto.parse_points("all")) == 11 + 8
    rows = {r["label"]: r for r in _rows()}
    ratios = {r["efficientnet"]: r for r in pareto.speed_ratios(list(rows.values()), "train_img_s")}
    # Nearest published top-1 at or above: B0 77.1 -> RS-50@160 78.8, B3 81.6 -> RS-152@192 82.0,
    # B6 84.0 -> RS-350@256 84.0 (equal counts), B7 84.3 -> RS-420@320 84.4.
    want = {"EfficientNet-B0@224": "RS-50@160", "EfficientNet-B3@300": "RS-152@192",
            "EfficientNet-B6@528": "RS-350@256", "EfficientNet-B7@600": "RS-420@320"}
    for eff, rs in want.items():
        r = ratios[eff]
        assert r["resnet_rs"] == rs
        assert r["ratio"] == round(rows[rs]["train_img_s"] / rows[eff]["train_img_s"], 2)
    # A latency is inverted (lower is faster); a model with no ResNet-RS at or above is left out.
    lat = {r["efficientnet"]: r["ratio"] for r in pareto.speed_ratios(list(rows.values()), "latency_ms")}
    assert lat["EfficientNet-B0@224"] == round(rows["EfficientNet-B0@224"]["latency_ms"]
                                               / rows["RS-50@160"]["latency_ms"], 2)
    without_420 = [r for r in rows.values() if r["label"] != "RS-420@320"]
    assert "EfficientNet-B7@600" not in {r["efficientnet"] for r in
                                         pareto.speed_ratios(without_420, "train_img_s")}
    assert published_speed.PAPER_SPEEDUP == {"TPU": (1.7, 2.7), "GPU": (2.1, 3.3)}


def test_pareto_model_subsets_and_a_bad_name(tmp_path):
    assert [p.key for p in pareto.parse_points("rs50@160, B0,b0")] == ["rs50@160", "b0"]
    with pytest.raises(ValueError, match="unknown Pareto model 'b8'"):
        pareto.parse_points("b0,b8")
    out = run_tool("benchmark.py", "--pareto", "--pareto_models=rs50@161", timeout=300)
    assert out.returncode != 0 and "--pareto_models: unknown Pareto model 'rs50@161'" in out.stderr
    out = run_tool("benchmark.py", "--pareto", "--pareto_modes=train,latency", timeout=300)
    assert out.returncode != 0 and "--pareto_modes: ['latency']" in out.stderr


@pytest.mark.slow
def test_pareto_times_a_resnet_rs_and_an_efficientnet_and_prints_the_ratio(tmp_path):
    png = tmp_path / "pareto.png"
    out = run_tool("benchmark.py", "--pareto", "--pareto_models=rs50@160,b0", "--pareto_modes=train,infer",
                   "--batch_size=2", "--pareto_train_batch=1", "--reps=1", "--rep_seconds=0.1",
                   "--warmup_steps=0", f"--pareto_png={png}", timeout=1200)
    assert out.returncode == 0, out.stderr[-3000:]
    result = last_json_line(out)
    points = {p["label"]: p for p in result["points"]}
    assert sorted(points) == ["EfficientNet-B0@224", "RS-50@160"]
    for p in points.values():
        assert p["train_img_s"] > 0 and p["img_s"] > 0 and p["train_batch"] == 1 and p["batch"] == 2
    assert [(r["key"], r["efficientnet"], r["resnet_rs"]) for r in result["ratios"]] == [
        ("train_img_s", "EfficientNet-B0@224", "RS-50@160"), ("img_s", "EfficientNet-B0@224", "RS-50@160")]
    assert "train_img_s: RS-50@160 (78.8) is " in out.stdout and png.exists()
    # Training in the same process: oneDNN must not assume frozen weights.
    assert result["onednn_frozen_weights"] == "0"


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
    out = run_tool("benchmark.py", "--mode=train", "--fold_batch_norm", timeout=300)
    assert out.returncode != 0 and "--fold_batch_norm needs --mode=infer" in out.stderr
