"""Exports an official or trained ResNet-RS checkpoint as a SavedModel for TF Serving.

The checkout launcher of official/cli/export_saved_model.py (installed: its console script).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout's `official`

from official.cli import export_saved_model  # noqa: E402

if __name__ == "__main__":
    export_saved_model.run()
