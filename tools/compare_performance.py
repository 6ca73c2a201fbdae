"""Our throughput against the Model Garden's (and timm's), interleaved on this machine.

The checkout launcher of official/cli/compare_performance.py (installed: its console script).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout's `official`

from official.cli import compare_performance  # noqa: E402

if __name__ == "__main__":
    compare_performance.run()
