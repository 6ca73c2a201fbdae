"""Strategies: names, batch split, a mirrored step equal to the single-device step, and
two MultiWorkerMirroredStrategy workers on 127.0.0.1 ending with identical weights."""

import contextlib
import json
import os
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import ROOT, SMALL_FLAG, small_demo_config, small_model, tool_env
from official.runtime import distribute
from official.training import ema as ema_lib
from official.training import schedules
from official.training import config as config_lib
from official.training import optimizer as optimizer_lib
from official.training import state as state_lib
from official.training import step as step_lib

distribute.configure_logical_cpus(2)   # no-op when conftest.py did it first


def test_names_and_batch_split():
    with pytest.raises(ValueError, match="--strategy"):
        distribute.make_strategy("horovod")
    one = distribute.make_strategy("one_device")
    assert distribute.per_replica_batch_size(64, one) == 64
    assert distribute.default_precision(one) == "float32"
    mirrored = distribute.make_strategy("mirrored")
    assert mirrored.num_replicas_in_sync == 2
    assert distribute.per_replica_batch_size(64, mirrored) == 32
    with pytest.raises(ValueError, match="global batch size 5"):
        distribute.per_replica_batch_size(5, mirrored)


def test_tf_config_checks(monkeypatch):
    good = {"cluster": {"worker": ["127.0.0.1:2000", "127.0.0.1:2001"]}, "task": {"type": "worker", "index": 1}}
    assert distribute.parse_tf_config(json.dumps(good))["task"]["index"] == 1
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG.*not set"):
        distribute.parse_tf_config()
    with pytest.raises(ValueError, match="host:port"):
        distribute.parse_tf_config(json.dumps({"cluster": {"worker": ["nohost"]},
                                               "task": {"type": "worker", "index": 0}}))
    monkeypatch.setenv("TF_CONFIG", "not json")
    with pytest.raises(ValueError, match="TF_CONFIG is not valid JSON"):
        distribute.make_strategy("multi_worker_mirrored")


def _step_config():
    c = small_demo_config(global_batch_size=8, warmup_epochs=0.0, max_steps=10)
    c.model.dropout_rate = 0.0      # no randomness: the two runs must agree
    c.data.data_dir = "unused"
    c.data.num_train_images = 80
    return c


@pytest.mark.slow
def test_mirrored_step_equals_single_device_step():
    """2 replicas x 4 images = one device applying the mean of the two half-batch gradients.

    BN statistics are per replica (as on TPU cores; docs/fidelity.md: batch norm), so the single-device
    reference computes each half's forward pass separately.
    """
    config = _step_config()
    mirrored = distribute.make_strategy("mirrored")
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    images = rng.normal(size=(8, 32, 32, 3)).astype("float32")
    labels = rng.integers(0, 10, size=8).astype("int32")
    _, total, warmup = config_lib.run_lengths(config)
    schedule = schedules.make_schedule(
        "cosine", peak=0.1 * 8 / 256, total_steps=total, warmup_steps=warmup,
        num_train_images=80, global_batch_size=8)

    with mirrored.scope():
        model = state_lib.model_from_config(config)
        optimizer = optimizer_lib.make_optimizer(config, schedule, "float32", model)
        ema = ema_lib.ExponentialMovingAverage(model, 0.9)
    initial = [v.numpy() for v in model.weights]
    wd = state_lib.weight_decay_variables(model, config.optimizer.weight_decay_rule)
    loop = step_lib.make_train_loop(model, optimizer, ema, wd, config, mirrored)
    dataset = mirrored.experimental_distribute_dataset(
        tf.data.Dataset.from_tensors((images, labels)).repeat())
    loss = float(loop(iter(dataset), tf.constant(1)))

    reference = state_lib.model_from_config(config)
    reference.set_weights(initial)
    ref_optimizer = optimizer_lib.make_optimizer(config, schedule, "float32", reference)
    ref_wd = state_lib.weight_decay_variables(reference, config.optimizer.weight_decay_rule)
    losses, grads = [], []
    for half in (slice(0, 4), slice(4, 8)):
        with tf.GradientTape() as tape:
            logits = reference(images[half], training=True)
            half_loss = (tf.reduce_mean(step_lib.cross_entropy(labels[half], logits, 0.1))
                         + step_lib.l2_term(ref_wd, config.optimizer.weight_decay))
        losses.append(float(half_loss))
        grads.append(tape.gradient(half_loss, reference.trainable_variables))
    mean_grads = [(a + b) / 2 for a, b in zip(*grads)]
    ref_optimizer.apply_gradients(zip(mean_grads, reference.trainable_variables))

    assert loss == pytest.approx(np.mean(losses), rel=1e-5)
    by_path = {v.path: v for v in reference.trainable_variables}
    changed = 0
    for v in model.trainable_variables:
        np.testing.assert_allclose(v.numpy(), by_path[v.path].numpy(), rtol=1e-4, atol=1e-6,
                                   err_msg=v.path)
        for replica_value in v.value.values:     # both replicas hold the same weights
            np.testing.assert_array_equal(replica_value.numpy(), v.numpy())
        changed += not np.array_equal(v.numpy(), initial[[w.path for w in model.weights].index(v.path)])
    # Zero-init last BN gammas keep each residual branch's inner BN gammas and betas and its
    # zero SE biases still at step 1 (no gradient reaches them, and no L2 term: BN is not
    # decayed and the biases are 0); everything else moved (54 of 78 here, 138 of 234 for RS-50).
    assert changed == len(model.trainable_variables) - 6 * sum(config.model.block_counts)


@contextlib.contextmanager
def _reserved_ports(n):
    """`n` free ports, each held by a bound (not listening) SO_REUSEPORT socket until the block ends.

    Picking a free port and closing it before the workers bind it is a race: any process
    on the machine may take the port in between (one worker then cannot start, which its
    peer may report only as missing heartbeats). Held bound, the ports cannot be given to
    anyone else; TensorFlow's gRPC server binds them beside these sockets when
    TF_GRPC_REUSE_PORT=1, and only its listening socket receives connections.
    """
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET6 if socket.has_dualstack_ipv6() else socket.AF_INET)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            s.bind(("", 0))      # the wildcard address, as the gRPC server binds it
            sockets.append(s)
        yield [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _logs(paths):
    return "\n".join(f"----- worker {i} log ({path}), last 6000 characters:\n"
                     + open(path, encoding="utf-8", errors="replace").read()[-6000:]
                     for i, path in enumerate(paths))


@pytest.mark.slow
def test_two_multi_worker_processes_train_together(tmp_path):
    from official.data import demo_data
    data_dir = str(tmp_path / "digits")
    demo_data.write_digits(data_dir, image_size=32)
    workdir = str(tmp_path / "work")
    logs = [str(tmp_path / f"worker{i}.log") for i in range(2)]
    procs = []
    # Logs go to files, not pipes: a pipe that is not read while the test waits on the
    # other worker would fill and stop its writer.
    with _reserved_ports(2) as ports:
        workers = [f"127.0.0.1:{p}" for p in ports]
        try:
            for index in range(2):
                env = tool_env(TF_ENABLE_ONEDNN_OPTS="0", TF_GRPC_REUSE_PORT="1",
                               TF_CONFIG=json.dumps({"cluster": {"worker": workers},
                                                     "task": {"type": "worker", "index": index}}))
                with open(logs[index], "w", encoding="utf-8") as log:
                    procs.append(subprocess.Popen(
                        [sys.executable, os.path.join(ROOT, "tools", "train.py"), f"--workdir={workdir}",
                         "--strategy=multi_worker_mirrored", f"--config.data.data_dir={data_dir}",
                         SMALL_FLAG, "--config.train.global_batch_size=8", "--config.train.max_steps=2",
                         "--config.train.steps_per_loop=1", "--config.eval.global_batch_size=40",
                         "--config.export.enabled=False", "--config.data.num_eval_images=359"],
                        stdout=log, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT))
            for proc in procs:
                try:
                    proc.wait(timeout=540)
                except subprocess.TimeoutExpired:
                    pytest.fail("a worker did not finish in 540 s\n" + _logs(logs))
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    outputs = [open(path, encoding="utf-8", errors="replace").read() for path in logs]
    assert [proc.returncode for proc in procs] == [0, 0], _logs(logs)
    assert "replica(s)" in outputs[0] and "2 replica(s)" in outputs[0]
    chief = tf.train.load_checkpoint(tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints")))
    other = tf.train.load_checkpoint(tf.train.latest_checkpoint(
        os.path.join(workdir, "tmp", "worker1_checkpoints")))
    # Weights and momentum must agree; BN moving statistics (and so their EMA) are each
    # replica's own last batch with bn_momentum 0, as per TPU core in the TF1 code (docs/fidelity.md: batch norm).
    keys = [k for k in chief.get_variable_to_shape_map()
            if k.startswith(("model/", "optimizer/")) and "moving_" not in k]
    # The trainable weights and their momentum slots (2 x 78 in the small model).
    assert len(keys) >= 2 * len(small_model(input_shape=(32, 32, 3), num_classes=10).trainable_variables)
    for k in keys:
        np.testing.assert_array_equal(chief.get_tensor(k), other.get_tensor(k), err_msg=k)
    assert int(chief.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE")) == 2
