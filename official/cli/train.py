"""Train ResNet-RS with the paper's recipe; rerunning the same command resumes.

    python tools/train.py --config=configs/resnetrs350_i256.py --workdir=gs://BUCKET/rs350 \\
        --strategy=tpu --tpu=TPU_NAME --config.data.data_dir=gs://BUCKET/imagenet
    python tools/train.py --workdir=/tmp/resnet_rs_demo      # the demo (default config)

Override any config value with --config.x.y=value (e.g. --config.train.epochs=90).
A family other than the TF1 release: --config=configs/resnetrs50_i160.py:garden.
Exit codes: 0 done, 1 error, 130/143 stopped by Ctrl-C/SIGTERM after a checkpoint.
"""

import sys

from absl import app
from absl import flags

# None of these imports TensorFlow: the flags are checked before its import (cli.run_main).
from official.runtime import distribute
from official import cli  # the CLIs' shared pieces

# Training steps are 3-5x slower without oneDNN on AVX2 CPUs (measured on a 2-core EPYC).
cli.enable_onednn()

_CONFIG = cli.define_config_flag(
    "Recipe: a name (demo, finetune, resnetrs50_i160, ...) or a file, optionally :garden; override "
    "any field with --config.x.y=value (e.g. --config.data.image_dir=PHOTOS, --config.train.epochs=3).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Checkpoints, summaries and the export (local or gs://).")
_STRATEGY = flags.DEFINE_enum("strategy", "auto", distribute.STRATEGIES, "tf.distribute strategy.")
_TPU = flags.DEFINE_string("tpu", None, "TPU name or grpc:// address (--strategy=tpu).")
_LOGICAL_CPUS = flags.DEFINE_integer("num_logical_cpus", 0,
                                     "--strategy=mirrored on a CPU-only host: split the CPU.")
_PREDICT = flags.DEFINE_bool("classify_example", None,
                             "After the export, classify one held-out image with the SavedModel "
                             "(default: on for the demo config).")


def _classify_example(config, export_dir):
    """Classifies the first validation image with the exported SavedModel (demo check)."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    from official.data import pipeline  # pylint: disable=g-import-not-at-top
    path = pipeline.tfrecord_files(config.data.data_dir, config.data.eval_split)[0]
    record = next(iter(tf.data.TFRecordDataset(path)))
    parsed = pipeline.parse_example(record)
    image_bytes, label = parsed[0], parsed[1]
    served = tf.saved_model.load(export_dir).signatures["serving_default"]
    out = served(image_bytes=tf.reshape(image_bytes, [1]))
    predicted = int(out["classes"][0, 0])
    print(f"classified one held-out image with the SavedModel: true class "
          f"{int(label) - config.data.label_offset}, predicted {predicted} "
          f"(score {float(out['scores'][0, 0]):.3f})")


def _held_out(result, config):
    """One line: top-1 (and top-5) on the held-out split, with which weights and how many images."""
    ema = "ema_" if "ema_top_1" in result else ""
    if result.get(f"{ema}top_1") is None:
        return None
    top5 = f", top-5 {result[f'{ema}top_5']:.4f}" if config.model.num_classes > 5 else ""
    return (f"held-out top-1 {result[f'{ema}top_1']:.4f}{top5} on {result.get('count')} images of "
            f"'{config.data.eval_split}' ({'EMA' if ema else 'raw'} weights)")


def _summary(result):
    """One short line: the final step, the metrics (4 digits) and the export directory."""
    parts = [f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
             for k, v in result.items() if k not in ("interrupted", "export_dir") and v is not None]
    export = f"; SavedModel in {result['export_dir']}" if result.get("export_dir") else ""
    return "done: " + ", ".join(parts) + export


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not _WORKDIR.value:
        raise app.UsageError("--workdir is required: checkpoints, summaries and the export go there")
    from official.training import loop  # pylint: disable=g-import-not-at-top  (after the flags)
    from official.training import state  # pylint: disable=g-import-not-at-top
    from official.runtime import workdir  # pylint: disable=g-import-not-at-top
    config = _CONFIG.value
    try:
        config.unlock()
        strategy = distribute.make_strategy(_STRATEGY.value, tpu=_TPU.value,
                                            num_logical_cpus=_LOGICAL_CPUS.value)
        result = loop.train_and_evaluate(config, _WORKDIR.value, strategy)
    except (ValueError, FileNotFoundError, state.TrainingError, workdir.WorkdirLocked,
            workdir.WriteError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if result["interrupted"]:
        return 143 if result["interrupted"] == "SIGTERM" else 130
    print(_summary(result))
    held_out = _held_out(result, config)
    if held_out:
        print(held_out)
    classify = _PREDICT.value if _PREDICT.value is not None else bool(config.get("demo_data_size", 0))
    if classify and result["export_dir"]:
        _classify_example(config, result["export_dir"])
    return 0


def run():
    """The console script (pyproject.toml [project.scripts])."""
    cli.run_main(__name__, main)


if __name__ == "__main__":
    run()
