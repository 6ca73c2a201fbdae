"""Every `>>>` example in the library's docstrings runs (doctest), module by module.

Examples that need a download, a training run or a published-size model carry
`# doctest: +SKIP` and say why; the others use small inputs and the small model
(block_counts=(1, 1, 1, 1)). Left out: the peers' scripts (official/benchmarks/peers, run
by other virtual environments) and the CLI modules (each defines its flags on import,
several under the same name; their examples are command lines, not `>>>`).
"""

import doctest
import importlib
import os

import pytest

from conftest import ROOT

OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _library_modules():
    names = []
    for folder, dirs, files in os.walk(os.path.join(ROOT, "official")):
        dirs[:] = sorted(d for d in dirs if d not in ("peers", "__pycache__"))
        package = os.path.relpath(folder, ROOT).replace(os.sep, ".")
        if package == "official.cli":        # the CLIs define flags on import; these two do not
            files = ["__init__.py", "model_flags.py"]
        for f in sorted(files):
            if f.endswith(".py"):
                names.append(package if f == "__init__.py" else f"{package}.{f[:-3]}")
    return names


MODULES = _library_modules()


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)             # examples that write files write them here
    monkeypatch.setenv("RESNET_RS_CACHE", str(tmp_path / "cache"))        # never the user's cache
    monkeypatch.setenv("RESNET_RS_CACHE_DIR", str(tmp_path / "cache"))
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=OPTIONS)
    for test in finder.find(module, name):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {name} failed (output above)"


def test_enough_examples_run():
    """The examples are part of the documentation: most of them must run, not be skipped."""
    run = 0
    for name in MODULES:
        for test in doctest.DocTestFinder(exclude_empty=True).find(importlib.import_module(name), name):
            run += sum(1 for e in test.examples if not e.options.get(doctest.SKIP))
    assert run >= 20
    assert "official.validation" in MODULES and not any(".peers." in n for n in MODULES)
