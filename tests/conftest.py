"""Shared test set-up: quiet TensorFlow, make the project importable."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Two logical CPUs for the MirroredStrategy tests (tests/test_distribute.py, test_train.py,
# test_ema.py). Devices can only be configured before TensorFlow's runtime starts, i.e.
# before the first test of any file touches a tensor, so it is done here, once.
from official import distribute  # noqa: E402  pylint: disable=wrong-import-position

distribute.configure_logical_cpus(2)
