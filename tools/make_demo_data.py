"""Writes the demo's dataset: scikit-learn's digits as ImageNet-format JPEG TFRecords.

The checkout launcher of official/cli/make_demo_data.py (installed: its console script).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout's `official`

from official.cli import make_demo_data  # noqa: E402

if __name__ == "__main__":
    make_demo_data.run()
