"""docs/library.md: every ```python block runs, in order, in one namespace (in a temporary directory)."""

import os
import re

import pytest

DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "library.md")


def _blocks():
    with open(DOC) as f:
        return re.findall(r"```python\n(.*?)```", f.read(), re.DOTALL)


def test_the_page_has_runnable_examples():
    assert len(_blocks()) >= 4


@pytest.mark.slow  # builds five small models, fits twice, exports three ways (~30 s)
def test_library_page_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for i, block in enumerate(_blocks()):
        exec(compile(block, f"{DOC} block {i + 1}", "exec"), namespace)  # pylint: disable=exec-used
    assert os.path.isfile(tmp_path / "model.tflite")
    assert os.path.isdir(tmp_path / "served" / "1") and os.path.isdir(tmp_path / "classifier_savedmodel")
