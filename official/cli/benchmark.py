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
    --pareto       latency (batch 1) and throughput (--batch_size) of every published
                   (depth, size), plotted against the published top-1 (PNG): the
                   paper's speed-accuracy Pareto curve on this machine.

Warm-up and compile time (the first call traces the tf.function) are reported
separately (`first_call_s`) and never mixed into the throughput. Compare two systems
as a ratio of runs interleaved on the same machine (A B A B), with `lscpu` noted.
The measuring code is official/benchmarks/throughput.py; this CLI parses flags and calls it.

Examples:
    python tools/benchmark.py --mode=train --depth=50 --image_size=160 --batch_size=32
    # -> {"mode": "train", "img_s_median": ..., "img_s_min": ..., "maxrss_mib": ...}
    python tools/benchmark.py --mode=infer --batch_size=1
    python tools/benchmark.py --pareto --pareto_png=pareto.png
"""

import json
import os
import sys

from absl import app
from absl import flags

# `python tools/benchmark.py` from the repository root: make `official` importable.

# Plain Python until a measurement runs: TensorFlow is imported after the oneDNN choice.
from official.benchmarks import throughput as throughput_lib  # noqa: E402
from official import families  # noqa: E402
from official.runtime import quiet  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_enum("mode", "input", ["input", "train", "infer"], "What to measure.")
flags.DEFINE_integer("depth", 50, "ResNet-RS depth (train/infer).")
flags.DEFINE_list("block_counts", [], "Blocks per stage instead of --depth's (e.g. 1,1,1,1: a small "
                  "model of the same blocks, for quick checks of the tool); empty: the depth's.")
flags.DEFINE_enum("precision", "float32", ["float32", "bfloat16", "float16"],
                  "Activation dtype for train/infer (Keras mixed policy when not float32).")
flags.DEFINE_bool("fused_batch_norm", True, "Fused batch norm (False: the plain-ops path).")
flags.DEFINE_integer("steps_per_call", 1, "Training steps per tf.function call.")
flags.DEFINE_integer("batch_splits", 2, "Inference: slices a batch runs as, side by side "
                     "(official/serving/inference.py; 1: one call).", lower_bound=1)
flags.DEFINE_bool("ema", True, "Train: keep the EMA of weights and BN statistics in the step (the "
                  "recipe's); False measures the step without it, like the Garden's and timm's training steps.")
flags.DEFINE_integer("warmup_steps", 1, "Untimed calls after the first (train/infer).")
flags.DEFINE_integer("threads", 0, "intra/inter-op threads (0: TensorFlow's default).")
flags.DEFINE_integer("inter_op_threads", 0, "inter-op threads when not --threads (0: as --threads).")
flags.DEFINE_enum("onednn", "on", ["on", "off", "default"],
                  "TF_ENABLE_ONEDNN_OPTS before TensorFlow loads (default: leave as is). "
                  "TensorFlow turns oneDNN on by itself only on CPUs with AVX-512.")
flags.DEFINE_enum("frozen_weights", "auto", ["auto", "on", "off"],
                  "Inference: TF_ONEDNN_ASSUME_FROZEN_WEIGHTS, oneDNN keeping its re-laid-out copy "
                  "of the weights between calls. auto: on for batches up to 4 (x15 at batch 1 on a "
                  "2-core EPYC), off above (same speed at batch 32, 300 MiB less memory).")
flags.DEFINE_bool("conv_floor", False, "Train/infer: also time the model's convolutions alone "
                  "(conv_floor_img_s: the speed if all else were free; of_conv_floor).")
flags.DEFINE_bool("op_profile", False, "Train/infer: also profile 2 calls and report the op "
                  "time per kind of work (convolutions, batch norm, element-wise, update...).")
flags.DEFINE_bool("pareto", False, "Measure every published (depth, size); see --pareto_png.")
flags.DEFINE_string("pareto_png", "pareto.png", "Where --pareto writes its plot.")
flags.DEFINE_string("data_dir", "", "TFRecord folder ({split}-*); empty: generate one.")
flags.DEFINE_string("split", "train", "Shard prefix to read.")
flags.DEFINE_integer("label_offset", 1, "Subtracted from stored labels (0 for 0-based data).")
flags.DEFINE_integer("num_images", 2000, "Images to generate when --data_dir is empty.")
flags.DEFINE_integer("image_size", 160, "Output side.")
flags.DEFINE_integer("batch_size", 32, "Batch size.")
flags.DEFINE_enum("preprocessing", families.TF1.name, list(families.NAMES), "Preprocessing family.")
flags.DEFINE_float("randaug_magnitude", 10, "RandAugment M (0 disables).")
flags.DEFINE_integer("randaug_num_layers", 2, "RandAugment ops per image.")
flags.DEFINE_list("pipelines", ["train", "eval"], "Which input pipelines to time.")
flags.DEFINE_integer("reps", 5, "Timed repetitions.")
flags.DEFINE_float("rep_seconds", 4.0, "Approximate length of one repetition.")
flags.DEFINE_float("warmup_seconds", 3.0, "Untimed warm-up (AUTOTUNE settles).")



def _timing():
    """bench_model's settings shared by train, infer and pareto."""
    return dict(fused_batch_norm=FLAGS.fused_batch_norm, batch_splits=FLAGS.batch_splits,
                reps=FLAGS.reps, rep_seconds=FLAGS.rep_seconds, warmup_steps=FLAGS.warmup_steps)


def main(argv):
    del argv
    for name in ("conv_floor", "op_profile"):
        if FLAGS[name].value and (FLAGS.pareto or FLAGS.mode == "input"):
            raise app.UsageError(f"--{name} needs --mode=train or --mode=infer (without --pareto)")
    if FLAGS.block_counts and (FLAGS.pareto or FLAGS.mode == "input"):
        raise app.UsageError("--block_counts needs --mode=train or --mode=infer (without --pareto)")
    # oneDNN must be chosen before TensorFlow is first imported (all imports here are lazy).
    if FLAGS.onednn != "default":
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1" if FLAGS.onednn == "on" else "0"
    if FLAGS.pareto or FLAGS.mode == "infer":
        os.environ["TF_ONEDNN_ASSUME_FROZEN_WEIGHTS"] = throughput_lib.frozen_weights_setting(
            FLAGS.frozen_weights, 1 if FLAGS.pareto else FLAGS.batch_size)
    with quiet.startup():    # TensorFlow's start-up lines off (C++ INFO: TF_CPP_MIN_LOG_LEVEL in run())
        import tensorflow as tf  # pylint: disable=g-import-not-at-top
    if FLAGS.threads:
        tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
        tf.config.threading.set_inter_op_parallelism_threads(FLAGS.inter_op_threads or FLAGS.threads)
    if FLAGS.pareto:
        result = throughput_lib.bench_pareto(FLAGS.batch_size, FLAGS.pareto_png, FLAGS.precision,
                                           **_timing())
    elif FLAGS.mode == "input":
        result = throughput_lib.bench_input(
            data_dir=FLAGS.data_dir, label_offset=FLAGS.label_offset, num_images=FLAGS.num_images,
            image_size=FLAGS.image_size, batch_size=FLAGS.batch_size,
            preprocessing=FLAGS.preprocessing, randaug_magnitude=FLAGS.randaug_magnitude,
            randaug_num_layers=FLAGS.randaug_num_layers, pipelines=FLAGS.pipelines,
            split=FLAGS.split, reps=FLAGS.reps, rep_seconds=FLAGS.rep_seconds,
            warmup_seconds=FLAGS.warmup_seconds)
    else:
        result = throughput_lib.bench_model(
            FLAGS.mode, FLAGS.depth, FLAGS.image_size, FLAGS.batch_size, FLAGS.precision,
            block_counts=FLAGS.block_counts, steps_per_call=FLAGS.steps_per_call, ema=FLAGS.ema,
            conv_floor=FLAGS.conv_floor, op_profile=FLAGS.op_profile, **_timing())
    result.update(throughput_lib.settings())
    result["onednn_frozen_weights"] = os.environ.get("TF_ONEDNN_ASSUME_FROZEN_WEIGHTS")
    result.setdefault("maxrss_mib", throughput_lib.maxrss_mib())
    print(json.dumps(result), flush=True)


def run():
    """The console script (pyproject.toml [project.scripts])."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from official import cli  # pylint: disable=g-import-not-at-top
    cli.run_main(__name__, main, tensorflow=False)   # main imports it, after the oneDNN choice


if __name__ == "__main__":
    run()
