"""Throughput benchmarks, printed as one JSON line per measurement.

The checkout launcher of official/cli/benchmark.py (installed: its console script).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout's `official`

from official.cli import benchmark  # noqa: E402

if __name__ == "__main__":
    benchmark.run()
