"""The main job's output: progress, evaluation, export and classification, and nothing else.

The README's main command is `python tools/train.py --workdir=DIR` (the digits demo); here
the same trainer path runs with the small model for two steps, in a fresh process with
the environment a user has (no TF_CPP_MIN_LOG_LEVEL, no CUDA_VISIBLE_DEVICES).
"""

import logging
import os
import re
import subprocess
import sys

import pytest

from official.runtime import quiet

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# What TensorFlow, tf.data and Keras print when left alone: C++ log prefixes (I0000 ...,
# W0000 ...), Python warnings, the absl pre-initialisation notice, TensorFlow's Python INFO.
FRAMEWORK_LINE = re.compile(r"^[IWE]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ [a-z_]+\.cc:\d+\]|Warning:|"
                            r"absl::InitializeLog|INFO:tensorflow|"
                            r"\] (Sharding callback|Writing fingerprint|Assets written|Function `)")


def _run_demo(tmp_path, *extra):
    """The README's command (a relative --workdir) in ``tmp_path``, small model, two steps."""
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "CUDA_VISIBLE_DEVICES")}
    return subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "train.py"), "--workdir=runs/demo",
         "--config.model.block_counts=(1,1,1,1)", "--config.train.max_steps=2",
         "--config.train.steps_per_loop=2", "--config.train.checkpoint_every_steps=2", *extra],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.slow   # trains, evaluates, exports and reloads a SavedModel: ~1-3 min on 2 cores
def test_demo_output_is_short_and_free_of_framework_lines(tmp_path):
    result = _run_demo(tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    lines = output.splitlines()
    assert max(len(line) for line in lines) <= 200, max(lines, key=len)[:300]
    noise = [line[:200] for line in lines if FRAMEWORK_LINE.search(line)]
    assert not noise, "\n".join(noise)
    for expected in ("wrote 1438 images", "step 2/2", "eval at step 2: ema_top_1", "exported the EMA weights",
                     "classified one held-out image with the SavedModel"):
        assert expected in output, output[-3000:]
    assert len(lines) < 20, output


def test_verbose_is_read_before_flags_are_parsed():
    assert quiet.verbose_requested(["train.py", "--workdir=x", "--verbose"])
    assert quiet.verbose_requested(["train.py", "--verbose=true"])
    assert not quiet.verbose_requested(["train.py", "--noverbose", "--workdir=--verbose-dir"])
    assert not quiet.verbose_requested(["train.py", "--", "--verbose"])


def test_framework_info_filter_keeps_ours_and_framework_warnings():
    import tensorflow as tf
    tf_file = os.path.join(os.path.dirname(tf.__file__), "python", "checkpoint", "functional_saver.py")
    keep = quiet.FrameworkInfoFilter(quiet._package_roots())   # pylint: disable=protected-access

    def record(level, path):
        return logging.LogRecord("absl", level, path, 1, "message", (), None)

    assert not keep.filter(record(logging.INFO, tf_file))
    assert keep.filter(record(logging.WARNING, tf_file))
    assert keep.filter(record(logging.INFO, os.path.join(ROOT, "official", "train_lib.py")))


# Runs a tool as `python tools/x.py ...` would and says, on exit, whether TensorFlow was imported.
_TRACK_IMPORT = ("import atexit, runpy, sys\n"
                 "atexit.register(lambda: print('tensorflow imported:', 'tensorflow' in sys.modules))\n"
                 "sys.argv = sys.argv[1:]\n"
                 "runpy.run_path(sys.argv[0], run_name='__main__')\n")


@pytest.mark.parametrize("tool, bad_flag, named", [
    ("train.py", "--strategy=tpuu", "--strategy"),
    ("train.py", "--config.train.epochz=3", "epochz"),
    ("evaluate.py", "--checkpoint_x=1", "checkpoint_x"),
    ("predict.py", "--top_k=many", "--top_k"),
    ("export_saved_model.py", "--checkpoint_format=tf3", "--checkpoint_format"),
    ("convert_checkpoint.py", "--depth=fifty", "--depth"),
    ("compare_precision.py", "--checkpoint_format=tf3", "--checkpoint_format"),
    ("make_tfrecords.py", "--num_shards=x", "--num_shards"),
    ("make_demo_data.py", "--image_size=4", "--image_size"),
    ("benchmark.py", "--mode=fly", "--mode"),
])
def test_a_bad_flag_is_reported_before_tensorflow_is_imported(tool, bad_flag, named):
    # TensorFlow's import takes seconds; a typo should not wait for it.
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, "-c", _TRACK_IMPORT, os.path.join(ROOT, "tools", tool),
                             bad_flag],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0, result.stdout + result.stderr
    assert named in result.stderr and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "tensorflow imported: False" in result.stdout, result.stdout + result.stderr[-2000:]


def test_a_tool_prints_no_tensorflow_start_up_lines_unless_verbose(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["CUDA_VISIBLE_DEVICES"] = ""
    runs = {}
    for extra in ([], ["--verbose"]):
        runs[bool(extra)] = subprocess.run(
            [sys.executable, os.path.join(ROOT, "tools", "make_demo_data.py"),
             f"--output_dir={tmp_path / str(bool(extra))}", "--image_size=8", *extra],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    for run in runs.values():
        assert run.returncode == 0 and "wrote" in run.stdout, run.stdout + run.stderr[-2000:]
    quiet_lines = (runs[False].stdout + runs[False].stderr).splitlines()
    assert not [line for line in quiet_lines if FRAMEWORK_LINE.search(line)], quiet_lines
    assert all("tfrecords.py" in line or line.startswith("wrote") for line in quiet_lines), quiet_lines
    # The same start-up, verbose: TensorFlow's own lines are there (what the quiet run hid).
    assert any(FRAMEWORK_LINE.search(line) for line in runs[True].stderr.splitlines()), runs[True].stderr
