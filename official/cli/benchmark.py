r"""Throughput benchmarks, printed as one JSON line per measurement.

Modes:
    --mode=input   images/s of the training input (decode-and-crop + resize + flip
                   + RandAugment + normalise, batched) and of the eval input, on
                   ImageNet-format TFRecords (generated if --data_dir is empty).
    --mode=train   images/s of the real training step (forward, backward, coupled L2,
                   SGD momentum, EMA of weights and BN statistics: train_lib's loop)
                   on a fixed random batch, so no input pipeline is included.
    --mode=infer   images/s of inference (float logits) on a fixed random batch.
    --conv_floor   with train/infer: also the images/s if every op but the
                   convolutions were free (each Conv2D of the model alone, forward, or
                   forward + input and filter gradients), and the share of it reached.
    --op_profile   with train/infer: also the op time per call by kind of work
                   (convolutions, their gradients, batch norm, activations, updates...)
                   and the largest op types, from TensorFlow's profiler
                   (official/benchmarks/op_profile.py).
    --pareto       the paper's speed-accuracy Pareto curve on this machine: the training
                   step (--pareto_train_batch, per image), inference throughput
                   (--batch_size) and batch-1 latency of every published (depth, size)
                   and of EfficientNet-B0..B7 at their published resolutions, plotted
                   against the published top-1 (PNG), with each EfficientNet's speed
                   ratio against the ResNet-RS of the nearest top-1 at or above it
                   (official/benchmarks/pareto.py). --pareto_models picks a subset.

Warm-up and compile time (the first call traces the tf.function) are reported
separately (`first_call_s`) and never mixed into the throughput. Compare two systems
as a ratio of runs interleaved on the same machine (A B A B), with `lscpu` noted.
The measuring code is official/benchmarks/throughput.py; this CLI parses flags and calls it.

Examples:
    python tools/benchmark.py --mode=train --depth=50 --image_size=160 --batch_size=32
    # -> {"mode": "train", "img_s_median": ..., "img_s_min": ..., "maxrss_mib": ...}
    python tools/benchmark.py --mode=infer --batch_size=1
    python tools/benchmark.py --pareto --pareto_png=pareto.png
    python tools/benchmark.py --pareto --pareto_models=rs50@160,rs101@160,b0,b1 \
        --pareto_modes=train,infer --reps=2 --rep_seconds=2     # minutes on a 2-core CPU
"""

import json
import os

from absl import app
from absl import flags

# `python tools/benchmark.py` from the repository root: make `official` importable.

# Plain Python until a measurement runs: TensorFlow is imported after the oneDNN choice.
from official import cli  # noqa: E402  (the CLIs' shared pieces)
from official.benchmarks import pareto as pareto_lib  # noqa: E402
from official.benchmarks import throughput as throughput_lib  # noqa: E402
from official import families  # noqa: E402
from official.runtime import quiet  # noqa: E402

_MODE = flags.DEFINE_enum("mode", "input", ["input", "train", "infer"], "What to measure.")
_DEPTH = flags.DEFINE_integer("depth", 50, "ResNet-RS depth (train/infer).")
_BLOCK_COUNTS = flags.DEFINE_list(
    "block_counts", [], "Blocks per stage instead of --depth's (e.g. 1,1,1,1: a small "
    "model of the same blocks, for quick checks of the tool); empty: the depth's.")
_PRECISION = flags.DEFINE_enum("precision", "float32", ["float32", "bfloat16", "float16"],
                               "Activation dtype for train/infer (Keras mixed policy when not float32).")
_FUSED_BATCH_NORM = flags.DEFINE_bool(
    "fused_batch_norm", True, "Fused batch norm (False: the plain-ops path).")
_FOLD_BATCH_NORM = flags.DEFINE_bool(
    "fold_batch_norm", None, "Inference: fold the batch norms into the convolutions (default: "
    "as an export does, below float32 only; official/serving/inference.py serving_model).")
_STEPS_PER_CALL = flags.DEFINE_integer("steps_per_call", 1, "Training steps per tf.function call.")
_BATCH_SPLITS = flags.DEFINE_integer("batch_splits", 2, "Inference: slices a batch runs as, side by side "
                                     "(official/serving/inference.py; 1: one call).", lower_bound=1)
_EMA = flags.DEFINE_bool(
    "ema", True, "Train: keep the EMA of weights and BN statistics in the step (the "
    "recipe's); False measures the step without it, like the Garden's and timm's training steps.")
_WARMUP_STEPS = flags.DEFINE_integer("warmup_steps", 1, "Untimed calls after the first (train/infer).")
_THREADS = flags.DEFINE_integer("threads", 0, "intra/inter-op threads (0: TensorFlow's default).")
_INTER_OP_THREADS = flags.DEFINE_integer(
    "inter_op_threads", 0, "inter-op threads when not --threads (0: as --threads).")
_ONEDNN = flags.DEFINE_enum("onednn", "on", ["on", "off", "default"],
                            "TF_ENABLE_ONEDNN_OPTS before TensorFlow loads (default: leave as is). "
                            "TensorFlow turns oneDNN on by itself only on CPUs with AVX-512.")
_FROZEN_WEIGHTS = flags.DEFINE_enum(
    "frozen_weights", "auto", ["auto", "on", "off"],
    "Inference: TF_ONEDNN_ASSUME_FROZEN_WEIGHTS, oneDNN keeping its re-laid-out copy "
    "of the weights between calls. auto: on for batches up to 4 (x15 at batch 1 on a "
    "2-core EPYC), off above (same speed at batch 32, 300 MiB less memory).")
_CONV_FLOOR = flags.DEFINE_bool("conv_floor", False, "Train/infer: also time the model's convolutions alone "
                                "(conv_floor_img_s: the speed if all else were free; of_conv_floor).")
_OP_PROFILE = flags.DEFINE_bool("op_profile", False, "Train/infer: also profile 2 calls and report the op "
                                "time per kind of work (convolutions, batch norm, element-wise, update...).")
_PARETO = flags.DEFINE_bool("pareto", False, "Measure the speed-accuracy Pareto curve: every published "
                            "(depth, size) and EfficientNet-B0..B7; see --pareto_models, --pareto_png.")
_PARETO_PNG = flags.DEFINE_string("pareto_png", "pareto.png", "Where --pareto writes its plot.")
_PARETO_MODELS = flags.DEFINE_string(
    "pareto_models", "all", "--pareto: all | resnet-rs | efficientnet | a list of rs<depth>@<size> and "
    "b0..b7 (e.g. rs50@160,rs101@192,b0,b3): a subset keeps a CPU run within minutes.")
_PARETO_MODES = flags.DEFINE_list(
    "pareto_modes", list(pareto_lib.MODES),
    "--pareto: train (the training step at --pareto_train_batch, per image: the paper's axis), "
    "infer (at --batch_size), infer_b1 (batch-1 latency).")
_PARETO_TRAIN_BATCH = flags.DEFINE_integer(
    "pareto_train_batch", 8, "--pareto: training batch (small on a CPU; the speed is per image).",
    lower_bound=1)
_DATA_DIR = flags.DEFINE_string("data_dir", "", "TFRecord folder ({split}-*); empty: generate one.")
_SPLIT = flags.DEFINE_string("split", "train", "Shard prefix to read.")
_LABEL_OFFSET = flags.DEFINE_integer("label_offset", 1, "Subtracted from stored labels (0 for 0-based data).")
_NUM_IMAGES = flags.DEFINE_integer("num_images", 2000, "Images to generate when --data_dir is empty.")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 160, "Output side.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 32, "Batch size.")
_PREPROCESSING = flags.DEFINE_enum(
    "preprocessing", families.TF1.name, list(families.NAMES), "Preprocessing family.")
_RANDAUG_MAGNITUDE = flags.DEFINE_float("randaug_magnitude", 10, "RandAugment M (0 disables).")
_RANDAUG_NUM_LAYERS = flags.DEFINE_integer("randaug_num_layers", 2, "RandAugment ops per image.")
_PIPELINES = flags.DEFINE_list("pipelines", ["train", "eval"], "Which input pipelines to time.")
_REPS = flags.DEFINE_integer("reps", 5, "Timed repetitions.")
_REP_SECONDS = flags.DEFINE_float("rep_seconds", 4.0, "Approximate length of one repetition.")
_WARMUP_SECONDS = flags.DEFINE_float("warmup_seconds", 3.0, "Untimed warm-up (AUTOTUNE settles).")



def _timing():
    """bench_model's settings shared by train, infer and pareto."""
    return dict(fused_batch_norm=_FUSED_BATCH_NORM.value, batch_splits=_BATCH_SPLITS.value,
                reps=_REPS.value, rep_seconds=_REP_SECONDS.value, warmup_steps=_WARMUP_STEPS.value)


def _frozen_weights():
    """TF_ONEDNN_ASSUME_FROZEN_WEIGHTS for this run, or None (training: never)."""
    if _PARETO.value:
        if "train" not in _PARETO_MODES.value:
            return throughput_lib.frozen_weights_setting(_FROZEN_WEIGHTS.value, 1)
        # oneDNN would keep its copy of weights the training step changes: off (batch-1
        # latency then runs without the weight cache; --pareto_modes=infer_b1 alone has it).
        if _FROZEN_WEIGHTS.value == "on":
            raise app.UsageError("--frozen_weights=on: not with --pareto_modes=train (the training "
                                 "step changes the weights oneDNN would assume frozen)")
        return "0"
    if _MODE.value == "infer":
        return throughput_lib.frozen_weights_setting(_FROZEN_WEIGHTS.value, _BATCH_SIZE.value)
    return None


def main(argv):
    del argv
    for holder in (_CONV_FLOOR, _OP_PROFILE):
        if holder.value and (_PARETO.value or _MODE.value == "input"):
            raise app.UsageError(f"--{holder.name} needs --mode=train or --mode=infer (without --pareto)")
    if _FOLD_BATCH_NORM.value is not None and (_PARETO.value or _MODE.value != "infer"):
        raise app.UsageError("--fold_batch_norm needs --mode=infer (without --pareto)")
    if _BLOCK_COUNTS.value and (_PARETO.value or _MODE.value == "input"):
        raise app.UsageError("--block_counts needs --mode=train or --mode=infer (without --pareto)")
    try:
        points = pareto_lib.parse_points(_PARETO_MODELS.value) if _PARETO.value else []
    except ValueError as e:
        raise app.UsageError(f"--pareto_models: {e}") from e
    unknown = sorted(set(_PARETO_MODES.value) - set(pareto_lib.MODES))
    if unknown or not _PARETO_MODES.value:
        raise app.UsageError(f"--pareto_modes: {unknown or 'empty'}; choose from {','.join(pareto_lib.MODES)}")
    # oneDNN must be chosen before TensorFlow is first imported (all imports here are lazy).
    if _ONEDNN.value != "default":
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1" if _ONEDNN.value == "on" else "0"
    frozen = _frozen_weights()
    if frozen is not None:
        os.environ["TF_ONEDNN_ASSUME_FROZEN_WEIGHTS"] = frozen
    with quiet.startup():    # TensorFlow's start-up lines off (C++ INFO: TF_CPP_MIN_LOG_LEVEL in run())
        import tensorflow as tf  # pylint: disable=g-import-not-at-top
    if _THREADS.value:
        tf.config.threading.set_intra_op_parallelism_threads(_THREADS.value)
        tf.config.threading.set_inter_op_parallelism_threads(_INTER_OP_THREADS.value or _THREADS.value)
    if _PARETO.value:
        modes = [m for m in pareto_lib.MODES if m in _PARETO_MODES.value]
        result = pareto_lib.bench_pareto(points, modes, _BATCH_SIZE.value, _PARETO_TRAIN_BATCH.value,
                                         _PARETO_PNG.value, _PRECISION.value, **_timing())
    elif _MODE.value == "input":
        result = throughput_lib.bench_input(
            data_dir=_DATA_DIR.value, label_offset=_LABEL_OFFSET.value, num_images=_NUM_IMAGES.value,
            image_size=_IMAGE_SIZE.value, batch_size=_BATCH_SIZE.value,
            preprocessing=_PREPROCESSING.value, randaug_magnitude=_RANDAUG_MAGNITUDE.value,
            randaug_num_layers=_RANDAUG_NUM_LAYERS.value, pipelines=_PIPELINES.value,
            split=_SPLIT.value, reps=_REPS.value, rep_seconds=_REP_SECONDS.value,
            warmup_seconds=_WARMUP_SECONDS.value)
    else:
        result = throughput_lib.bench_model(
            _MODE.value, _DEPTH.value, _IMAGE_SIZE.value, _BATCH_SIZE.value, _PRECISION.value,
            block_counts=_BLOCK_COUNTS.value, steps_per_call=_STEPS_PER_CALL.value, ema=_EMA.value,
            fold_batch_norm=_FOLD_BATCH_NORM.value,
            conv_floor=_CONV_FLOOR.value, op_profile=_OP_PROFILE.value, **_timing())
    result.update(throughput_lib.settings())
    result["onednn_frozen_weights"] = os.environ.get("TF_ONEDNN_ASSUME_FROZEN_WEIGHTS")
    result.setdefault("maxrss_mib", throughput_lib.maxrss_mib())
    print(json.dumps(result), flush=True)


def run():
    """The console script (pyproject.toml [project.scripts])."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    cli.run_main(__name__, main, tensorflow=False)   # main imports it, after the oneDNN choice


if __name__ == "__main__":
    run()
