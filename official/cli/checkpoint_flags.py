"""The checkpoint flags and loading shared by the convert, export and compare_precision CLIs.

--checkpoint, --ema and --cache_dir, and `model_flags`' five that say what it holds.

Importing this module defines the flags (once per process, whichever CLI imports it);
each CLI lists them in its --help with `flags.adopt_module_key_flags(checkpoint_flags)`.

Example (in a CLI's module body, then in main):
    from official.cli import checkpoint_flags
    from official.cli.checkpoint_flags import CHECKPOINT, DEPTH
    flags.adopt_module_key_flags(checkpoint_flags)
    ...
    prefix, model = checkpoint_flags.load_or_exit()
"""

import sys

from absl import flags
from absl import logging

from official.cli import model_flags

CHECKPOINT = flags.DEFINE_string("checkpoint", None,
                                 "Checkpoint prefix, directory, or official name (resnet-rs-50-i160).")
# What the checkpoint holds (declared here, so each CLI's adopt_module_key_flags lists them).
MODEL = model_flags.define(__name__, of="--checkpoint")
CHECKPOINT_FORMAT, DEPTH, IMAGE_SIZE, CROP_PADDING = (MODEL.checkpoint_format, MODEL.depth, MODEL.image_size,
                                                  MODEL.crop_padding)
EMA = flags.DEFINE_bool("ema", True, "Use the moving averages (False: the raw training weights).")
CACHE_DIR = flags.DEFINE_string("cache_dir", None, "Download cache for official names.")


def family():
    """The family name: --family, else the one --checkpoint_format implies (tf1 for native)."""
    return MODEL.family_name()


def load_or_exit(include_top=True, precision="float32"):
    """Resolves (downloads) the checkpoint, builds the model and loads it: (prefix, model).

    `precision` (official/runtime/precision.py) is the model's compute precision; the weights load
    the same (float32 variables) in every precision.

    A bad path, name or checkpoint prints one line naming --checkpoint and exits 1;
    the path is resolved first, so that fails before the model is built.
    """
    from official.checkpoints import files as checkpoint_files  # pylint: disable=g-import-not-at-top
    from official.checkpoints import readers  # pylint: disable=g-import-not-at-top  (after flag parsing)
    from official.runtime import precision as precision_lib  # pylint: disable=g-import-not-at-top

    checkpoint_format = CHECKPOINT_FORMAT.value
    try:
        prefix = checkpoint_files.resolve(CHECKPOINT.value, checkpoint_format, CACHE_DIR.value)
        with precision_lib.policy(precision):
            model = readers.model_for_format(checkpoint_format, DEPTH.value, include_top=include_top,
                                        family=family())
        readers.load_into(model, prefix, format=checkpoint_format, ema=EMA.value, include_top=include_top)
    except (checkpoint_files.CheckpointError, checkpoint_files.DownloadError, FileNotFoundError) as e:
        logging.error("%s", e)
        print(f"error: --checkpoint={CHECKPOINT.value}: {e}", file=sys.stderr)
        sys.exit(1)
    return prefix, model
