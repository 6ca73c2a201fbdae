"""Classifies image files with a ResNet-RS and prints the top-5 ImageNet classes.

The checkout launcher of official/cli/predict.py (installed: its console script).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout's `official`

from official.cli import predict  # noqa: E402

if __name__ == "__main__":
    predict.run()
