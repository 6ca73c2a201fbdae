"""Writes the demo's dataset: scikit-learn's digits as ImageNet-format JPEG TFRecords.

    python tools/make_demo_data.py --output_dir=/tmp/digits_tfrecords [--image_size=32]

tools/train.py does this by itself for configs/demo.py; this tool is for using the
digits with other configs (--config.data.data_dir=OUTPUT_DIR --config.data.label_offset=1).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from official import demo_data  # noqa: E402

_OUT = flags.DEFINE_string("output_dir", None, "Where the shards go.", required=True)
_SIZE = flags.DEFINE_integer("image_size", 32, "Side of the written images.", lower_bound=8)
_VAL = flags.DEFINE_float("validation_fraction", 0.2, "Held-out share per class.",
                          lower_bound=0.01, upper_bound=0.9)


def main(argv):
    del argv
    counts = demo_data.write_digits(_OUT.value, image_size=_SIZE.value,
                                    validation_fraction=_VAL.value)
    print(f"wrote {counts} to {_OUT.value}")


if __name__ == "__main__":
    app.run(main)
