"""Does bfloat16 change what a checkpoint predicts? Top-5 of float32 against bfloat16.

The checkout launcher of official/cli/compare_precision.py (installed: its console script).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout's `official`

from official.cli import compare_precision  # noqa: E402

if __name__ == "__main__":
    compare_precision.run()
