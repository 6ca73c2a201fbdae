"""Small modules: no module of the library is over 500 lines."""

import glob
import os

from conftest import ROOT


def test_no_library_module_over_500_lines():
    sizes = {}
    for path in glob.glob(os.path.join(ROOT, "official", "**", "*.py"), recursive=True):
        with open(path, encoding="utf-8") as f:
            sizes[os.path.relpath(path, ROOT)] = sum(1 for _ in f)
    assert "official/training/loop.py" in sizes and "official/checkpoints/readers.py" in sizes
    assert {name: n for name, n in sizes.items() if n > 500} == {}
