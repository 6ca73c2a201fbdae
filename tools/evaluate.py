"""Top-1 / top-5 of a trainer checkpoint on the config's validation split.

The checkout launcher of official/cli/evaluate.py (installed: its console script).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout's `official`

from official.cli import evaluate  # noqa: E402

if __name__ == "__main__":
    evaluate.run()
