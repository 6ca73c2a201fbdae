"""Writes the demo's dataset: scikit-learn's digits as ImageNet-format JPEG TFRecords.

    python tools/make_demo_data.py --output_dir=/tmp/digits_tfrecords [--image_size=32]

tools/train.py does this by itself for configs/demo.py; this tool is for using the
digits with other configs (--config.data.data_dir=OUTPUT_DIR --config.data.label_offset=1).
"""

import os
import sys


from absl import flags  # noqa: E402

_OUT = flags.DEFINE_string("output_dir", None, "Where the shards go.", required=True)
_SIZE = flags.DEFINE_integer("image_size", 32, "Side of the written images.", lower_bound=8)
_VAL = flags.DEFINE_float("validation_fraction", 0.2, "Held-out share per class.",
                          lower_bound=0.01, upper_bound=0.9)


def main(argv):
    del argv
    from official.data import demo_data  # pylint: disable=g-import-not-at-top  (after the flags: TensorFlow)
    from official.runtime import workdir  # pylint: disable=g-import-not-at-top
    try:
        counts = demo_data.write_digits(_OUT.value, image_size=_SIZE.value,
                                        validation_fraction=_VAL.value)
    except workdir.WriteError as e:   # full disk: the message says where and how much
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {counts} to {_OUT.value}")
    return 0


def run():
    """The console script (pyproject.toml [project.scripts])."""
    from official import cli  # pylint: disable=g-import-not-at-top
    cli.run_main(__name__, main)


if __name__ == "__main__":
    run()
