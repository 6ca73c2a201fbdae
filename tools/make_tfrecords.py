"""Writes image classification data as ImageNet TFRecords in the official layout.

The checkout launcher of official/cli/make_tfrecords.py (installed: its console script).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout's `official`

from official.cli import make_tfrecords  # noqa: E402

if __name__ == "__main__":
    make_tfrecords.run()
