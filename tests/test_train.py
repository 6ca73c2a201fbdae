"""The trainer end to end on generated ImageNet-format TFRecords (real JPEGs).

The runs train the small ResNet-RS (one block per stage: every kind of block, a train
step that traces in seconds); what they check (checkpoints, resume bit-exactness,
summaries, the export, faults) does not depend on the number of blocks.
"""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import skimage.data
import tensorflow as tf
from tensorflow.python.util import _pywrap_util_port

from conftest import ROOT, SMALL_FLAG, run_tool, small_demo_config, tool_env, write_photo_tfrecords
from official.runtime import distribute
from official.training import loop
from official.training import state as state_lib

distribute.configure_logical_cpus(2)   # no-op when conftest.py did it first


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """16 train / 8 validation 48x48 JPEG crops of scikit-image's photos, labels 1..3."""
    return write_photo_tfrecords(tmp_path_factory.mktemp("tfrecords"))


def tiny_config(data_dir, export=True, **train):
    """The demo recipe shrunk: the small model, 32 px, batch 4, 1000 classes (what the export serves).

    `export=False` skips the SavedModel: tests that compare checkpoints leave the export
    to the tests that check it.
    """
    c = small_demo_config()
    c.export.enabled = export
    c.data.update(dict(data_dir=data_dir, num_train_images=18, num_eval_images=6, shuffle_buffer=32))
    c.model.num_classes = 1000
    c.model.dropout_rate = 0.2          # exercises the dropout RNG on resume
    c.demo_data_size = 0
    c.eval.global_batch_size = 2
    c.train.update(dict(global_batch_size=4, max_steps=2, steps_per_loop=1, checkpoint_every_steps=1,
                        warmup_epochs=0.0))
    c.train.update(train)
    return c


def checkpoint_values(workdir, step=None):
    directory = os.path.join(workdir, "checkpoints")
    prefix = (os.path.join(directory, f"ckpt-{step}") if step else tf.train.latest_checkpoint(directory))
    reader = tf.train.load_checkpoint(prefix)
    return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
            if "save_counter" not in k and k != "_CHECKPOINTABLE_OBJECT_GRAPH"}


def assert_same_state(a, b):
    assert set(a) == set(b)
    assert any(k.startswith("ema/") for k in a) and any("OPTIMIZER_SLOT" in k or "optimizer/" in k for k in a)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


# ----------------------------------------------------------------- start-up checks (fast)

def test_missing_workdir(data_dir):
    with pytest.raises(ValueError, match="workdir"):
        loop.train_and_evaluate(tiny_config(data_dir), "")


def test_empty_dataset_stops_at_startup(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    for split in ("train", "validation"):
        tf.io.TFRecordWriter(str(empty / f"{split}-00000-of-00001")).close()
    with pytest.raises(ValueError, match="no records"):
        loop.train_and_evaluate(tiny_config(str(empty)), str(tmp_path / "w"))
    with pytest.raises(FileNotFoundError):
        loop.train_and_evaluate(tiny_config(str(tmp_path / "nowhere")), str(tmp_path / "w2"))


def test_workdir_of_another_model(data_dir, tmp_path):
    workdir = str(tmp_path / "w")
    c = tiny_config(data_dir)
    state_lib.check_workdir_model(c, workdir, chief=True)   # what a first run writes
    other = tiny_config(data_dir)
    other.model.depth = 101
    with pytest.raises(state_lib.TrainingError, match="another model.*depth"):
        loop.train_and_evaluate(other, workdir)


def test_cli_rejects_bad_flags(tmp_path):
    env = tool_env(TF_CPP_MIN_LOG_LEVEL="3")
    # An unknown field: one line naming the flag and the nearest field, no traceback, with
    # the default recipe (checked while the flag is defined) and with --config given
    # (checked while absl parses the flags).
    for config in ([], ["--config=configs/demo.py"]):
        bad_key = run_tool("train.py", f"--workdir={tmp_path}", *config, "--config.train.epochz=3",
                           env=env, timeout=300)
        assert bad_key.returncode != 0 and "Traceback" not in bad_key.stderr, bad_key.stderr
        assert ("--config.train.epochz=3: no field 'epochz' in the recipe. "
                'Did you mean "epochs"') in bad_key.stderr
    bad_type = run_tool("train.py", f"--workdir={tmp_path}", "--config.train.epochs=many", env=env,
                        timeout=300)
    assert bad_type.returncode != 0 and "epochs" in bad_type.stderr
    no_workdir = run_tool("train.py", env=env, timeout=300)
    assert no_workdir.returncode != 0 and "--workdir" in no_workdir.stderr


TOOLS = ("train", "evaluate", "export_saved_model", "predict", "convert_checkpoint", "make_tfrecords",
         "make_demo_data", "benchmark", "compare_performance", "compare_precision")


def test_every_tool_help_exits_0_and_train_evaluate_list_config():
    env = tool_env(TF_CPP_MIN_LOG_LEVEL="3")
    for tool in TOOLS:
        shown = run_tool(f"{tool}.py", "--help", env=env, timeout=300)
        assert shown.returncode == 0 and "Traceback" not in shown.stderr, (tool, shown.stderr[-2000:])
        assert "verbose" in shown.stdout or tool in ("benchmark", "compare_performance"), tool
        if tool in ("train", "evaluate"):
            assert "  --config: Recipe: a name" in shown.stdout, shown.stdout
        if tool in ("export_saved_model", "predict", "convert_checkpoint", "compare_precision"):
            # official/cli/model_flags.py declares them for each CLI, so its own --help lists them.
            of = "--model when it is a checkpoint" if tool == "predict" else "--checkpoint"
            assert f"  --depth: Network depth of {of}" in shown.stdout, (tool, shown.stdout)
            assert "  --crop_padding: P of the TF1 centre crop" in shown.stdout, (tool, shown.stdout)
    bad = run_tool("train.py", "--nosuchflag", env=env, timeout=300)
    assert bad.returncode == 1 and "Unknown command line flag 'nosuchflag'" in bad.stderr


def test_malformed_tf_config_and_unreachable_tpu():
    with pytest.raises(ValueError, match="TF_CONFIG is not valid JSON"):
        distribute.parse_tf_config("{cluster:")
    with pytest.raises(ValueError, match="task"):
        distribute.parse_tf_config('{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": 3}}')
    with pytest.raises(ValueError, match="cannot reach TPU"):
        distribute.make_strategy("tpu", tpu="grpc://127.0.0.1:1")


# ----------------------------------------------------------------------- runs (slow)

@pytest.mark.slow
@pytest.mark.parametrize("strategy_name", ["one_device", "mirrored"])
def test_two_steps_write_checkpoint_summaries_savedmodel(data_dir, tmp_path, strategy_name):
    strategy = distribute.make_strategy(strategy_name)
    if strategy_name == "mirrored":
        assert strategy.num_replicas_in_sync == 2
    workdir = str(tmp_path / strategy_name)
    # The export (a float32 clone outside any strategy) is the same code after either.
    config = tiny_config(data_dir, export=strategy_name == "one_device")
    result = loop.train_and_evaluate(config, workdir, strategy)
    assert result["step"] == 2 and np.isfinite(result["loss"])
    assert 0.0 <= result["ema_top_1"] <= result["ema_top_5"] <= 1.0 and result["count"] == 6
    assert tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints")).endswith("ckpt-2")
    tags = set()
    for event_file in tf.io.gfile.glob(os.path.join(workdir, "*", "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(event_file):
            tags.update(v.tag for v in event.summary.value)
    assert {"loss", "learning_rate", "images_per_sec", "ema_top_1", "ema_top_5"} <= tags
    if strategy_name == "one_device":
        served = tf.saved_model.load(result["export_dir"]).signatures["serving_default"]
        jpeg = tf.io.encode_jpeg(skimage.data.chelsea()[:64, :64])
        assert served(image_bytes=tf.reshape(jpeg, [1]))["logits"].shape == (1, 1000)
    else:
        assert result["export_dir"] is None


@pytest.fixture(scope="module")
def straight_run(data_dir, tmp_path_factory):
    """The state after 4 uninterrupted steps: what every resumed run must reproduce."""
    workdir = str(tmp_path_factory.mktemp("straight"))
    loop.train_and_evaluate(tiny_config(data_dir, export=False, max_steps=4), workdir)
    return checkpoint_values(workdir, 4)


@pytest.mark.slow
def test_resume_gives_identical_state(data_dir, tmp_path, straight_run):
    resumed = str(tmp_path / "resumed")
    # Same config (the cosine spans 4 steps in both); the first run stops after 2.
    config = tiny_config(data_dir, export=False, max_steps=4)
    first = loop.train_and_evaluate(config, resumed, stop_at_step=2)
    assert first["interrupted"] == "stop_at_step" and first["step"] == 2
    result = loop.train_and_evaluate(config, resumed)
    assert result["step"] == 4
    assert_same_state(straight_run, checkpoint_values(resumed, 4))


@pytest.mark.slow
def test_sigterm_checkpoints_and_resume_is_identical(data_dir, tmp_path, straight_run):
    workdir = str(tmp_path / "killed")
    cmd = [sys.executable, os.path.join(ROOT, "tools", "train.py"), f"--workdir={workdir}",
           SMALL_FLAG, f"--config.data.data_dir={data_dir}", "--config.data.num_train_images=18",
           "--config.data.num_eval_images=6", "--config.data.shuffle_buffer=32",
           "--config.model.num_classes=1000", "--config.model.dropout_rate=0.2",
           "--config.demo_data_size=0", "--config.eval.global_batch_size=2",
           "--config.train.global_batch_size=4", "--config.train.max_steps=4",
           "--config.train.steps_per_loop=1", "--config.train.checkpoint_every_steps=1",
           "--config.train.warmup_epochs=0", "--config.export.enabled=false"]
    # Same numerics as the in-process run: tools/train.py turns oneDNN on by default, while
    # this process has TensorFlow's own default (on only on AVX-512 CPUs). Pass on what it is.
    onednn = _pywrap_util_port.IsMklEnabled()
    env = tool_env(TF_ENABLE_ONEDNN_OPTS="1" if onednn else "0")
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    deadline = time.time() + 500
    for line in proc.stderr:
        if "step 1/4" in line or time.time() > deadline:
            proc.send_signal(signal.SIGTERM)
            break
    proc.stderr.read()
    assert proc.wait(timeout=300) == 143
    stopped_at = int(tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints")).rsplit("-", 1)[1])
    assert 1 <= stopped_at < 4
    result = loop.train_and_evaluate(tiny_config(data_dir, export=False, max_steps=4), workdir)
    assert result["step"] == 4
    assert_same_state(straight_run, checkpoint_values(workdir, 4))


@pytest.mark.slow
def test_nonfinite_loss_stops_and_keeps_last_good_checkpoint(data_dir, tmp_path):
    workdir = str(tmp_path / "nan")
    c = tiny_config(data_dir, export=False, max_steps=1)
    loop.train_and_evaluate(c, workdir)
    good = checkpoint_values(workdir, 1)
    c = tiny_config(data_dir, export=False, max_steps=3)
    c.optimizer.base_lr_per_256 = 1e30
    with pytest.raises(state_lib.TrainingError, match="loss is (nan|inf)"):
        loop.train_and_evaluate(c, workdir)
    directory = os.path.join(workdir, "checkpoints")
    latest = tf.train.latest_checkpoint(directory)
    assert latest.endswith("ckpt-1") or all(
        np.all(np.isfinite(v)) for v in checkpoint_values(workdir).values()
        if isinstance(v, np.ndarray) and v.dtype.kind == "f")   # not the momentum_rule string
    assert_same_state(good, checkpoint_values(workdir, 1))
