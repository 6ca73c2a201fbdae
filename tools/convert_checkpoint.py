"""Converts an official ResNet-RS checkpoint to a Keras file (.keras or .weights.h5).

The checkout launcher of official/cli/convert_checkpoint.py (installed: its console script).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout's `official`

from official.cli import convert_checkpoint  # noqa: E402

if __name__ == "__main__":
    convert_checkpoint.run()
