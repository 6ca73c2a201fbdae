"""Train ResNet-RS with the paper's recipe; rerunning the same command resumes.

The checkout launcher of official/cli/train.py (installed: its console script).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout's `official`

from official.cli import train  # noqa: E402

if __name__ == "__main__":
    train.run()
