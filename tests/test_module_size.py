"""Small modules: no module of the library is over 500 lines."""

import glob
import os

from conftest import ROOT


def test_no_library_module_over_500_lines():
    sizes = {}
    for path in glob.glob(os.path.join(ROOT, "official", "*.py")):
        with open(path, encoding="utf-8") as f:
            sizes[os.path.basename(path)] = sum(1 for _ in f)
    assert "train_lib.py" in sizes and "checkpoints.py" in sizes
    assert {name: n for name, n in sizes.items() if n > 500} == {}
