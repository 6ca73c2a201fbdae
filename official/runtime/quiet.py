"""Quiet command lines: TensorFlow's start-up and internal log lines only when asked for.

On every start TensorFlow prints lines that say nothing about the job (CUDA drivers
not found, the CPU instructions it was built for, oneDNN being on), some of them
twice because two of its libraries each set up logging, and while it works it logs
its saver's and SavedModel builder's steps. They drown a job's progress lines. A CLI
that wants only its own output:

1. calls :func:`before_tensorflow` before anything imports TensorFlow: the C++ INFO
   and WARNING lines are off (``TF_CPP_MIN_LOG_LEVEL=2``; errors still show);
2. imports TensorFlow inside :func:`startup`: the lines printed before TensorFlow's
   logging is set up, which no setting hides, are dropped there, everything else
   on stderr is passed on;
3. calls :func:`after_flags`: INFO records logged from TensorFlow's and Keras' own
   Python files (through the ``tensorflow`` or absl logger) are dropped; their
   warnings and errors, and every line of ours, still show.

``--verbose`` on the command line (or ``TF_CPP_MIN_LOG_LEVEL`` in the environment)
keeps everything.

Example:
    VERBOSE = quiet.before_tensorflow()
    with quiet.startup(VERBOSE):
        import tensorflow as tf
    ...
    quiet.after_flags(VERBOSE)      # in main(), once absl has parsed the flags
"""

import contextlib
import importlib.util
import logging
import os
import re
import sys
import tempfile

VERBOSE_FLAG = "--verbose"
# What TensorFlow prints to stderr on start-up (before absl logging is initialised, so
# TF_CPP_MIN_LOG_LEVEL cannot hide it) and while it looks for accelerators.
STARTUP_NOISE = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called|cudart_stub\.cc|cuda_platform\.cc|"
    r"cuda_executor\.cc|cpu_feature_guard\.cc|To enable the following instructions|"
    r"oneDNN custom operations are on|computation_placer\.cc")


def verbose_requested(argv=None):
    """Whether ``argv`` (default sys.argv) asks for ``--verbose`` (absl boolean spellings)."""
    argv = sys.argv if argv is None else argv
    for arg in argv[1:]:
        if arg == "--":
            break
        if arg == VERBOSE_FLAG or arg.lower() in (f"{VERBOSE_FLAG}=true", f"{VERBOSE_FLAG}=1"):
            return True
    return False


def before_tensorflow(argv=None):
    """Turns TensorFlow's C++ INFO and WARNING lines off unless ``--verbose``; returns verbose.

    A ``TF_CPP_MIN_LOG_LEVEL`` already in the environment wins.
    """
    verbose = verbose_requested(argv)
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return verbose


@contextlib.contextmanager
def startup(verbose=False):
    """Import TensorFlow in this block: its start-up lines are dropped, all other stderr output kept.

    At the end of the block TensorFlow (when imported) lists its devices, so the lines
    of the accelerator search come here too. The filter works on file descriptor 2,
    where TensorFlow's C++ code writes; if the block raises, everything it printed is
    passed on unfiltered.
    """
    if verbose:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    failed = True
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
            if "tensorflow" in sys.modules:
                sys.modules["tensorflow"].config.list_physical_devices()
            failed = False
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            lines = capture.read().decode(errors="replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines if failed or not STARTUP_NOISE.search(line)))
            sys.stderr.flush()


FRAMEWORKS = ("tensorflow", "keras")
# TensorFlow logs through both: its older modules through "tensorflow", newer ones
# (the checkpoint saver, SavedModel signatures, fingerprints) through absl's.
LOGGERS = ("tensorflow", "absl")


class FrameworkInfoFilter(logging.Filter):
    """Drops INFO (and DEBUG) records whose source file lies inside a framework package."""

    def __init__(self, roots):
        super().__init__()
        self.roots = tuple(roots)

    def filter(self, record):
        return record.levelno >= logging.WARNING or not str(record.pathname).startswith(self.roots)


def _package_roots(names=FRAMEWORKS):
    roots = []
    for name in names:
        spec = importlib.util.find_spec(name)
        roots += [os.path.join(p, "") for p in (spec.submodule_search_locations or [])] if spec else []
    return roots


def after_flags(verbose):
    """Unless verbose: the frameworks' own INFO lines off (saver, SavedModel builder, ...).

    Returns the filter it installed (None when verbose), e.g. for a test to remove it.
    """
    if verbose:
        return None
    quiet = FrameworkInfoFilter(_package_roots())
    for name in LOGGERS:
        logging.getLogger(name).addFilter(quiet)
    return quiet
