"""Timing shared by the peer scripts: one untimed call, warm-up, repetitions, a RESULT line;
our op profiler, loaded by its path; and the torchvision stand-in the timm-based ones need
where torchvision is broken.

The peer scripts run in other systems' virtual environments, so this module imports
nothing beyond the standard library (it is found next to them on sys.path).

Example:
    >>> result = time_steps(step, images_per_step=32, reps=4, rep_seconds=8)
    >>> print_result(dict(system="timm", **result))
    RESULT {"system": "timm", "img_s_median": ...}
"""

import importlib.abc
import importlib.machinery
import json
import resource
import statistics
import sys
import time
import types


def time_steps(step, images_per_step, reps=4, rep_seconds=4.0, warmup=2):
    """images/s of `step()` (which must block until its work is done).

    The first call (tracing, compiling, autotuning) and `warmup` more are untimed; each
    repetition runs as many steps as fill about `rep_seconds`.
    """
    t0 = time.perf_counter()
    step()
    first = time.perf_counter() - t0
    for _ in range(warmup):
        step()
    t0 = time.perf_counter()
    step()
    steps = max(1, round(rep_seconds / max(time.perf_counter() - t0, 1e-6)))
    rates = []
    for r in range(reps):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        rates.append(images_per_step * steps / (time.perf_counter() - t0))
        print(f"rep {r}: {steps} steps  {rates[-1]:.2f} img/s", flush=True)
    return dict(reps=reps, steps_per_rep=steps, first_call_s=round(first, 2),
                img_s_median=round(statistics.median(rates), 3),
                img_s_min=round(min(rates), 3), img_s_max=round(max(rates), 3))


def print_result(result):
    """The last line of every peer script, read by tools/compare_performance.py."""
    result["maxrss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print("RESULT " + json.dumps(result), flush=True)


def load_op_profile():
    """Our op profiler, official/benchmarks/op_profile.py, loaded by its path.

    In the peers' venvs `official` is another package (the Garden's) or none, so the
    module is executed from its file; it imports only the standard library at the top.
    """
    import importlib.util
    import os
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "op_profile.py")
    spec = importlib.util.spec_from_file_location("resnet_rs_op_profile", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Inert(type):
    """The stand-in's classes: every attribute is another inert class (timm reads e.g.
    `InterpolationMode.NEAREST` at import time, as a dictionary key)."""

    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Inert(name, (), {"__init__": lambda self, *args, **kwargs: None})


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves `torchvision` and its submodules as empty modules whose every name is a class."""

    def find_spec(self, fullname, path, target=None):
        if fullname.split(".")[0] == "torchvision":
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        module = types.ModuleType(spec.name)
        module.__version__ = "0.0.0+stub"

        def any_name(name):   # a module's __getattr__ (PEP 562): every name is an inert class
            if name.startswith("__"):
                raise AttributeError(name)
            return _Inert(name, (), {"__init__": lambda self, *args, **kwargs: None})

        module.__getattr__ = any_name
        return module

    def exec_module(self, module):
        module.__path__ = []


def _torchvision_imports():
    try:
        import torchvision  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
        return True
    except Exception:  # pylint: disable=broad-except   (a torchvision built for another torch)
        return False


def stub_torchvision_if_broken():
    """Serves an empty torchvision where the installed one does not import.

    timm imports torchvision at import time without using it for the models; PyPI's
    torchvision can be built for another torch than the venv's (its C ops then fail to
    register). Only then: timm reads attributes of a real torchvision
    (InterpolationMode.NEAREST, ...) that the stand-in does not have.
    """
    if _torchvision_imports():
        return False
    for name in [m for m in sys.modules if m.split(".")[0] == "torchvision"]:
        del sys.modules[name]
    sys.meta_path.insert(0, _StubFinder())
    return True
