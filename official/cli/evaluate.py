"""Top-1 / top-5 of a trainer checkpoint on the config's validation split.

    python tools/evaluate.py --config=configs/resnetrs50_i160.py --checkpoint=WORKDIR \\
        --config.data.data_dir=/data/imagenet [--raw_weights]

--checkpoint is a workdir (its latest checkpoint) or a checkpoint prefix written by
tools/train.py. The EMA weights are evaluated (what the recipes publish) unless
--raw_weights. For the official TF1/Garden checkpoints use tools/export_saved_model.py.
"""

import os
import sys

from absl import flags

# None of these imports TensorFlow: the flags are checked before its import (cli.run_main).
from official.runtime import distribute
from official import cli  # the CLIs' shared pieces

cli.enable_onednn()

_CONFIG = cli.define_config_flag(
    "Recipe: a name (finetune, resnetrs50_i160, ...) or a file, optionally :garden; "
    "override any field with --config.x.y=value.")
_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "Workdir or checkpoint prefix.", required=True)
_STRATEGY = flags.DEFINE_enum("strategy", "auto", distribute.STRATEGIES, "tf.distribute strategy.")
_TPU = flags.DEFINE_string("tpu", None, "TPU name or address (--strategy=tpu).")
_RAW = flags.DEFINE_bool("raw_weights", False, "Evaluate the raw weights instead of the EMA.")


def main(argv):
    del argv
    import tensorflow as tf  # pylint: disable=g-import-not-at-top  (after the flags)
    from official.data import pipeline  # pylint: disable=g-import-not-at-top
    from official.training import evaluation  # pylint: disable=g-import-not-at-top
    config = _CONFIG.value
    config.unlock()
    if config.get("demo_data_size", 0) and not config.data.data_dir:
        config.data.data_dir = os.path.join(_CHECKPOINT.value, "digits_tfrecords")
    try:
        strategy = distribute.make_strategy(_STRATEGY.value, tpu=_TPU.value)
        metrics = evaluation.evaluate_checkpoint(config, _CHECKPOINT.value, strategy,
                                                 use_ema=not _RAW.value)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (tf.errors.InvalidArgumentError, tf.errors.DataLossError) as e:
        message = pipeline.data_error(e)      # a label outside the head, a cut TFRecord file
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 1
    print(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items()))
    return 0


def run():
    """The console script (pyproject.toml [project.scripts])."""
    cli.run_main(__name__, main)


if __name__ == "__main__":
    run()
