"""The checkpoint flags and loading shared by tools/convert_checkpoint.py and tools/export_saved_model.py.

Example (in a tool's module body, then in main):
    checkpoint_flags.define()
    prefix, model = checkpoint_flags.load_or_exit(flags.FLAGS)
"""

import sys

from absl import flags
from absl import logging

from official import families


def define():
    """--checkpoint, --checkpoint_format, --depth, --image_size, --family, --crop_padding, --ema, --cache_dir."""
    flags.DEFINE_string("checkpoint", None, "Checkpoint prefix, directory, or official name (resnet-rs-50-i160).")
    flags.DEFINE_enum("checkpoint_format", families.TF1.checkpoint_format, list(families.FORMATS),
                      "Checkpoint format.")
    flags.DEFINE_integer("depth", 50, "Network depth: 50, 101, 152, 200, 270, 350 or 420.")
    flags.DEFINE_integer("image_size", None, "Resolution; default: the checkpoint's own (from its name).")
    flags.DEFINE_enum("family", None, list(families.NAMES),
                      "Architecture and preprocessing family; default: tf1 for tf1/native, garden for garden.")
    flags.DEFINE_integer("crop_padding", families.TF1_CROP_PADDING,
                         "P of the TF1 centre crop S/(S+P) (32 as in the published results).")
    flags.DEFINE_bool("ema", True, "Use the moving averages (False: the raw training weights).")
    flags.DEFINE_string("cache_dir", None, "Download cache for official names.")


def family_of(F):
    """The family name: --family, else the one --checkpoint_format implies (tf1 for native)."""
    return families.of_format(F.checkpoint_format, F.family).name


def load_or_exit(F, include_top=True, precision="float32"):
    """Resolves (downloads) the checkpoint, builds the model and loads it: (prefix, model).

    `precision` (official/runtime/precision.py) is the model's compute precision; the weights load
    the same (float32 variables) in every precision.

    A bad path, name or checkpoint prints one line naming --checkpoint and exits 1;
    the path is resolved first, so that fails before the model is built.
    """
    from official.checkpoints import readers  # pylint: disable=g-import-not-at-top  (after flag parsing)
    from official.checkpoints import files as checkpoint_files  # pylint: disable=g-import-not-at-top
    from official.runtime import precision as precision_lib  # pylint: disable=g-import-not-at-top

    try:
        prefix = checkpoint_files.resolve(F.checkpoint, F.checkpoint_format, F.cache_dir)
        with precision_lib.policy(precision):
            model = readers.build_model(F.checkpoint_format, F.depth, include_top=include_top,
                                            family=family_of(F))
        readers.load_into(model, prefix, format=F.checkpoint_format, ema=F.ema, include_top=include_top)
    except (checkpoint_files.CheckpointError, checkpoint_files.DownloadError, FileNotFoundError) as e:
        logging.error("%s", e)
        print(f"error: --checkpoint={F.checkpoint}: {e}", file=sys.stderr)
        sys.exit(1)
    return prefix, model
