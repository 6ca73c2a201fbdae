"""Faults of long runs on real file systems and processes: a full disk, a second run on
the same workdir, SIGKILL in the middle of a checkpoint save or of an export.

The trainer runs the small ResNet-RS (block_counts=(1, 1, 1, 1)) on test_train's
TFRecords. A save or export "in progress" is caught from outside: the test polls for
its partial directory, freezes the process (SIGSTOP), checks the directory is still
there and then kills it (SIGKILL), so the kill lands inside the save for certain.
The full disk is a small tmpfs mounted for the test (root only; skipped otherwise).
"""

import contextlib
import glob
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.util import _pywrap_util_port

from official.serving import export
from official.modeling import resnet_rs
from official.data import tfrecords
from official.training import evaluation
from official.training import loop
from official.runtime import workdir as workdir_lib
# Shared helpers of the training tests (data_dir is a module-scoped fixture there).
from test_train import ROOT, assert_same_state, checkpoint_values, data_dir, tiny_config  # noqa: F401

STEPS = 4
# Same numerics in the CLI subprocesses as in this process (see test_train's SIGTERM test).
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
           TF_ENABLE_ONEDNN_OPTS="1" if _pywrap_util_port.IsMklEnabled() else "0")


def small_config(data_dir, **train):  # noqa: F811
    c = tiny_config(data_dir, export=False, **train)
    c.model.block_counts = (1, 1, 1, 1)
    return c


def train_cmd(data_dir, workdir, max_steps=STEPS):  # noqa: F811
    """tools/train.py with small_config's values (what an operator would run)."""
    return [sys.executable, os.path.join(ROOT, "tools", "train.py"), f"--workdir={workdir}",
            f"--config.data.data_dir={data_dir}", "--config.data.num_train_images=18",
            "--config.data.num_eval_images=6", "--config.data.shuffle_buffer=32",
            "--config.model.num_classes=1000", "--config.model.dropout_rate=0.2",
            "--config.model.block_counts=(1,1,1,1)",
            "--config.demo_data_size=0", "--config.eval.global_batch_size=2",
            "--config.train.global_batch_size=4", f"--config.train.max_steps={max_steps}",
            "--config.train.steps_per_loop=1", "--config.train.checkpoint_every_steps=1",
            "--config.train.warmup_epochs=0", "--config.export.enabled=false"]


@pytest.fixture(scope="module")
def straight_workdir(data_dir, tmp_path_factory):  # noqa: F811
    """A workdir after STEPS uninterrupted steps."""
    workdir = str(tmp_path_factory.mktemp("straight"))
    loop.train_and_evaluate(small_config(data_dir, max_steps=STEPS), workdir)
    return workdir


@pytest.fixture(scope="module")
def straight(straight_workdir):
    """The state after STEPS uninterrupted steps, which every faulted run must reproduce."""
    return checkpoint_values(straight_workdir, STEPS)


@contextlib.contextmanager
def small_filesystem(path, megabytes):
    """A tmpfs of `megabytes` mounted at `path` for the block; skips where mounting is refused."""
    os.makedirs(path, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield str(path)
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(path, leave_bytes):
    """Writes a ballast file so that only about `leave_bytes` stay free; returns its path."""
    ballast = os.path.join(path, "ballast")
    size = max(0, workdir_lib.free_bytes(path) - leave_bytes)
    with open(ballast, "wb") as f:
        chunk = b"\0" * 2**20
        while size > 0:
            size -= f.write(chunk[:min(size, len(chunk))])
    return ballast


def freeze_when(proc, found, timeout=600):
    """Polls `found()` until it returns a path, then SIGSTOPs `proc` while that path is there.

    Returns the path, or None if `proc` ended first (or the timeout passed).
    """
    deadline = time.time() + timeout
    while proc.poll() is None and time.time() < deadline:
        path = found()
        if path:
            proc.send_signal(signal.SIGSTOP)
            if os.path.exists(path):
                return path
            proc.send_signal(signal.SIGCONT)   # it finished between the look and the stop
        else:
            time.sleep(0.0005)
    return None


def temp_dirs(workdir):
    return glob.glob(os.path.join(workdir, "checkpoints", "*_temp"))


def non_empty(paths):
    """The first of `paths` holding a file (a save that has started writing), or None."""
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            if os.listdir(path):
                return path
    return None


def latest_step(workdir):
    latest = tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
    return int(latest.rsplit("-", 1)[1]) if latest else None


# -------------------------------------------------------------------- fast checks

def test_second_lock_in_use_is_refused_and_freed_on_exit(tmp_path):
    with workdir_lib.WorkdirLock(tmp_path):
        holder = json.loads((tmp_path / workdir_lib.LOCK_FILE).read_text())
        assert holder["pid"] == os.getpid()
        with pytest.raises(workdir_lib.WorkdirLocked, match=f"in use by another training run .PID {os.getpid()}"):
            with workdir_lib.WorkdirLock(tmp_path):
                pass
    assert (tmp_path / workdir_lib.LOCK_FILE).read_text() == ""   # released, not stale
    with workdir_lib.WorkdirLock(tmp_path):
        pass


def test_stale_lock_of_a_finished_process_is_taken_over(tmp_path, caplog):
    finished = subprocess.Popen(["true"])
    finished.wait()
    (tmp_path / workdir_lib.LOCK_FILE).write_text(
        json.dumps({"host": "elsewhere", "pid": finished.pid, "since": "yesterday"}))
    with caplog.at_level(logging.WARNING):
        with workdir_lib.WorkdirLock(tmp_path):
            assert json.loads((tmp_path / workdir_lib.LOCK_FILE).read_text())["pid"] == os.getpid()
    assert f"taking over the lock {tmp_path / workdir_lib.LOCK_FILE} left by PID {finished.pid}" in caplog.text


def test_leftovers_removed_but_never_a_named_checkpoint(tmp_path):
    directory = str(tmp_path / "checkpoints")
    v = tf.Variable(tf.range(1000, dtype=tf.float32))
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(v=v), directory, max_to_keep=3)
    for step in (1, 2):
        v.assign_add(tf.ones_like(v))
        manager.save(checkpoint_number=step)
    # What interrupted saves leave: shard folders, tempstate files, a half-written state
    # file, and a merged but unrecorded newer checkpoint (killed before the state update).
    (tmp_path / "checkpoints" / "ckpt-3_temp").mkdir()
    (tmp_path / "checkpoints" / "ckpt-3_temp" / "part-00000-of-00001.data-00000-of-00001.tempstate1").write_bytes(b"x")
    (tmp_path / "checkpoints" / "ckpt-2_temp").mkdir()     # a second save of a named step
    (tmp_path / "checkpoints" / "checkpoint.tmp0123abcd").write_text("model_checkpoint_path")
    (tmp_path / "checkpoints" / "ckpt-3.index.tempstate99").write_bytes(b"x")
    for f in glob.glob(os.path.join(directory, "ckpt-2.*")):
        tf.io.gfile.copy(f, f.replace("ckpt-2", "ckpt-3"))
    named = sorted(os.path.basename(f) for f in glob.glob(os.path.join(directory, "ckpt-[12].*")))
    removed = workdir_lib.clean_checkpoint_leftovers(directory)
    assert sorted(removed) == sorted(["ckpt-2_temp", "ckpt-3_temp", "checkpoint.tmp0123abcd",
                                      "ckpt-3.index.tempstate99", "ckpt-3.index",
                                      "ckpt-3.data-00000-of-00001"])
    assert sorted(os.listdir(directory)) == sorted(named + ["checkpoint"])
    np.testing.assert_array_equal(tf.train.load_checkpoint(manager.latest_checkpoint).get_tensor(
        "v/.ATTRIBUTES/VARIABLE_VALUE"), np.arange(1000) + 2)
    assert workdir_lib.clean_checkpoint_leftovers(directory) == []


def test_replacement_crashed_between_its_renames_restores_the_previous(tmp_path):
    target = tmp_path / "export"
    # The swap's first rename done (previous moved aside) by a process that is gone.
    finished = subprocess.Popen(["true"])
    finished.wait()
    (tmp_path / f".export.previous-{finished.pid}").mkdir()
    (tmp_path / f".export.previous-{finished.pid}" / "saved_model.pb").write_bytes(b"previous")
    (tmp_path / f".export.partial-{finished.pid}").mkdir()
    assert workdir_lib.remove_partial_dirs(target) == [f".export.partial-{finished.pid}"]
    assert (target / "saved_model.pb").read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["export"]


def test_tfrecords_on_a_full_disk_error_and_no_partial_shard(tmp_path):
    rng = np.random.default_rng(0)
    images = [(rng.integers(0, 255, (256, 256, 3), dtype=np.uint8), 1, "", f"{i}.jpg") for i in range(48)]
    with small_filesystem(tmp_path / "small", 2) as out:
        tfrecords.write_tfrecords(images[:2], out, "validation", num_shards=1, progress=False)
        before = sorted(os.listdir(out))
        with open(os.path.join(out, ".train-00002-of-00003.partial"), "wb") as f:   # a killed run's
            f.write(b"\0" * 1000)
        with pytest.raises(workdir_lib.WriteError) as error:
            tfrecords.write_tfrecords(images, out, "train", num_shards=4, progress=False)
        message = str(error.value)
        assert f"TFRecord shard(s) of 'train'" in message and out in message
        assert "No space left on device" in message and "MiB free" in message and "needs about" in message
        assert sorted(os.listdir(out)) == before      # no shard of 'train', nothing hidden


@pytest.mark.slow   # a TensorFlow CLI start-up (tens of seconds on a busy 2-core host)
def test_make_tfrecords_cli_on_a_full_disk_says_so(tmp_path):
    from PIL import Image
    rng = np.random.default_rng(1)
    for label in ("a", "b"):
        (tmp_path / "images" / label).mkdir(parents=True)
        for i in range(12):
            Image.fromarray(rng.integers(0, 255, (256, 256, 3), dtype=np.uint8)).save(
                tmp_path / "images" / label / f"{i}.png")
    with small_filesystem(tmp_path / "small", 1) as out:
        result = subprocess.run(
            [sys.executable, os.path.join(ROOT, "tools", "make_tfrecords.py"), f"--output_dir={out}",
             f"--image_dir={tmp_path / 'images'}", "--num_shards=2"],
            capture_output=True, text=True, env=ENV, timeout=300)
        assert result.returncode == 1
        assert f"error: cannot write the 2 TFRecord shard(s) of 'train' (24 images" in result.stderr
        assert f"to {out}: No space left on device" in result.stderr and "Traceback" not in result.stderr
        assert os.listdir(out) == []


# --------------------------------------------------------------------- runs (slow)

@pytest.mark.slow
def test_second_trainer_is_refused_evaluation_reads_and_stale_lock_taken_over(
        data_dir, tmp_path, caplog, straight_workdir):  # noqa: F811
    workdir = str(tmp_path / "run")
    shutil.copytree(straight_workdir, workdir)     # a checkpoint to evaluate; the first resumes it
    os.remove(os.path.join(workdir, workdir_lib.LOCK_FILE))
    first = subprocess.Popen(train_cmd(data_dir, workdir, max_steps=1000), env=ENV,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lock = os.path.join(workdir, workdir_lib.LOCK_FILE)
    try:
        deadline = time.time() + 500
        while f'"pid": {first.pid}' not in (open(lock).read() if os.path.exists(lock) else "") \
                and first.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        first.send_signal(signal.SIGSTOP)       # holds the lock, whatever it is doing
        assert first.poll() is None
        second = subprocess.run(train_cmd(data_dir, workdir), env=ENV, capture_output=True,
                                text=True, timeout=300)
        assert second.returncode == 1
        assert f"--workdir={workdir} is in use by another training run (PID {first.pid} on host" in second.stderr
        assert "Traceback" not in second.stderr
        # Reading a held workdir is fine.
        metrics = evaluation.evaluate_checkpoint(small_config(data_dir), workdir)
        assert metrics["count"] == 6
    finally:
        first.kill()
        first.wait()
    with caplog.at_level(logging.WARNING):
        with workdir_lib.WorkdirLock(workdir):
            pass
    assert f"left by PID {first.pid} on host" in caplog.text and "no longer running" in caplog.text


@pytest.mark.slow
def test_full_disk_mid_run_clear_error_no_leftover_and_exact_resume(data_dir, tmp_path, straight):  # noqa: F811
    checkpoint_mib = sum(np.asarray(v).nbytes for v in straight.values()) / 2**20
    # Room for the keep_checkpoints=2 kept and the one being written, as the rerun needs.
    with small_filesystem(tmp_path / "small", int(3.3 * checkpoint_mib) + 8) as mount:
        workdir = os.path.join(mount, "run")
        proc = subprocess.Popen(train_cmd(data_dir, workdir), env=ENV, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 500
        while latest_step(workdir) is None and proc.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGSTOP)
        while temp_dirs(workdir):          # stop between saves, not inside one
            proc.send_signal(signal.SIGCONT)
            time.sleep(0.02)
            proc.send_signal(signal.SIGSTOP)
        good = latest_step(workdir)
        assert good is not None and good < STEPS
        good_values = checkpoint_values(workdir, good)
        ballast = fill(mount, leave_bytes=2**20)      # the next checkpoint cannot fit
        proc.send_signal(signal.SIGCONT)
        stderr = proc.communicate(timeout=300)[1]
        assert proc.returncode == 1, stderr[-3000:]
        error = next(line for line in stderr.splitlines() if line.startswith("error: "))
        assert f"cannot write checkpoint ckpt-{good + 1} to {workdir}/checkpoints: No space left on device" in error
        assert "MiB free on its file system; it needs about" in error
        assert f"the last good checkpoint ckpt-{good} is untouched" in error
        assert "Traceback" not in stderr
        assert temp_dirs(workdir) == [] and not glob.glob(os.path.join(workdir, "checkpoints", "*tempstate*"))
        assert latest_step(workdir) == good
        assert_same_state(good_values, checkpoint_values(workdir, good))
        os.remove(ballast)
        result = loop.train_and_evaluate(small_config(data_dir, max_steps=STEPS), workdir)
        assert result["step"] == STEPS
        assert_same_state(straight, checkpoint_values(workdir, STEPS))


def test_full_disk_for_the_summaries_is_a_clear_error(data_dir, tmp_path):  # noqa: F811
    with small_filesystem(tmp_path / "small", 1) as mount:
        workdir = os.path.join(mount, "run")
        # Two pages free: the lock file and model_config.json fit, the first event file not.
        fill(mount, leave_bytes=2 * 4096)
        with pytest.raises(workdir_lib.WriteError) as error:
            loop.train_and_evaluate(small_config(data_dir), workdir)
        message = str(error.value)
        assert f"cannot write the TensorBoard summaries (train/, eval/) to {workdir}: No space left" in message
        assert "the checkpoints are untouched" in message
        assert not os.path.exists(os.path.join(workdir, "checkpoints", "checkpoint"))


@pytest.mark.slow
def test_sigkill_during_checkpoint_save_then_resume_is_exact(data_dir, tmp_path, straight, caplog):  # noqa: F811
    workdir = str(tmp_path / "killed")
    proc = subprocess.Popen(train_cmd(data_dir, workdir), env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    # A save after the first (so a complete checkpoint exists to resume from).
    partial = freeze_when(proc, lambda: latest_step(workdir) and non_empty(temp_dirs(workdir)))
    proc.kill()
    proc.wait()
    assert partial, "the trainer finished before a save could be caught in progress"
    complete = latest_step(workdir)
    assert os.path.basename(partial) == f"ckpt-{complete + 1}_temp" and os.listdir(partial)
    # absl's own logger: an earlier test in the process may have raised its level.
    with caplog.at_level(logging.INFO, logger="absl"):
        result = loop.train_and_evaluate(small_config(data_dir, max_steps=STEPS), workdir)
    assert f"removed the leftovers of an interrupted checkpoint save in {workdir}/checkpoints: " \
           f"ckpt-{complete + 1}_temp" in caplog.text
    assert f"resumed from {workdir}/checkpoints/ckpt-{complete} at step {complete}" in caplog.text
    assert f"left by PID {proc.pid}" in caplog.text       # the killed run's lock, taken over
    assert result["step"] == STEPS and temp_dirs(workdir) == []
    assert_same_state(straight, checkpoint_values(workdir, STEPS))


_EXPORT_SCRIPT = """
import sys
sys.path.insert(0, {root!r})
from official.serving import export
from official.modeling import resnet_rs
import keras
keras.utils.set_random_seed(1)
model = resnet_rs.ResNetRS(50, block_counts=(1, 1, 1, 1), input_shape=(32, 32, 3), num_classes=10)
export.export_saved_model(model, {export_dir!r}, 32, warmup=False)
"""


@pytest.mark.slow
def test_export_killed_or_on_a_full_disk_leaves_the_previous_export(tmp_path):
    with small_filesystem(tmp_path / "small", 120) as mount:
        export_dir = os.path.join(mount, "serving", "1")
        # The previous export: any real SavedModel will do (a small one, quick to write).
        module = tf.Module()
        module.w = tf.Variable(np.arange(12, dtype=np.float32).reshape(3, 4))
        module.f = tf.function(lambda x: tf.matmul(x, module.w),
                               input_signature=[tf.TensorSpec([None, 3], tf.float32)])
        tf.saved_model.save(module, export_dir)
        probe = tf.ones([2, 3])
        expected = module.f(probe).numpy()

        def previous_intact():
            loaded = tf.saved_model.load(export_dir)    # kept alive while its function runs
            np.testing.assert_array_equal(loaded.f(probe).numpy(), expected)

        # SIGKILL while the partial export is being written.
        script = _EXPORT_SCRIPT.format(root=ROOT, export_dir=export_dir)
        proc = subprocess.Popen([sys.executable, "-c", script], env=ENV, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        parent = os.path.dirname(export_dir)
        partial = freeze_when(proc, lambda: non_empty(glob.glob(os.path.join(parent, ".1.partial-*"))))
        proc.kill()
        proc.wait()
        assert partial and os.path.basename(partial) == f".1.partial-{proc.pid}"
        previous_intact()

        # A full disk: the next export removes the killed one's partial directory first,
        # then fails with a clear error and removes its own.
        ballast = fill(mount, leave_bytes=2**20)
        other = resnet_rs.ResNetRS(50, block_counts=(1, 1, 1, 1), input_shape=(32, 32, 3), num_classes=10,
                                   name=f"m{uuid.uuid4().hex[:6]}")
        with pytest.raises(workdir_lib.WriteError) as error:
            export.export_saved_model(other, export_dir, 32, warmup=False)
        message = str(error.value)
        assert f"cannot write the SavedModel to {export_dir}: No space left on device" in message
        assert "MiB free on its file system; it needs about" in message
        assert f"the previous {export_dir} is untouched" in message
        assert sorted(os.listdir(parent)) == ["1"]
        os.remove(ballast)
        previous_intact()
