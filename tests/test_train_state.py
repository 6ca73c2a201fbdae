"""The training state is created once, the same way for the trainer and the benchmark."""

import keras
import numpy as np
import tensorflow as tf

from conftest import small_demo_config
from official.training import state as state_lib


def _config(**overrides):
    config = small_demo_config(global_batch_size=4, max_steps=4)
    config.data.data_dir = "/nonexistent"     # never read: no dataset is built here
    for key, value in overrides.items():
        section, name = key.split("__")
        config[section][name] = value
    return config


def test_same_config_same_initial_state_and_the_policy_is_restored():
    strategy = tf.distribute.get_strategy()
    first = state_lib.create_train_state(_config(), strategy, "bfloat16")
    assert keras.config.dtype_policy().name == "float32"       # restored after the build
    assert first.model.compute_dtype == "bfloat16" and first.manager is None
    second = state_lib.create_train_state(_config(), strategy, "bfloat16")
    # Seeded with config.train.seed: a resumed run and the benchmark see the same weights.
    for a, b in zip(first.model.weights, second.model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    other = state_lib.create_train_state(_config(train__seed=1), strategy, "float32")
    assert not np.array_equal(first.model.weights[0].numpy(), other.model.weights[0].numpy())


def test_state_holds_what_the_run_checkpoints(tmp_path):
    strategy = tf.distribute.get_strategy()
    state = state_lib.create_train_state(_config(ema__decay=0.0), strategy, "float32",
                                           workdir=str(tmp_path))
    assert state.ema is None and state.manager is not None
    assert state.manager.directory == str(tmp_path / "checkpoints")
    # The L2 term of the tf1 rule covers kernels and SE/dense biases, never batch norm.
    names = {v.path for v in state.wd_variables}
    assert names and not any("_bn" in n for n in names) and any(n.endswith("bias") for n in names)

    # A fresh workdir: nothing to resume, no init checkpoint, so step 0 and the weights as built.
    before = [v.numpy() for v in state.model.weights]
    assert state_lib.restore_or_initialize(state, _config(), str(tmp_path), total_steps=4) == 0
    for b, v in zip(before, state.model.weights):
        np.testing.assert_array_equal(b, v.numpy())
    # What restore_or_initialize resumes from next time: the state's own checkpoint.
    state.optimizer.iterations.assign(3)
    state.manager.save(checkpoint_number=3)
    again = state_lib.create_train_state(_config(ema__decay=0.0), strategy, "float32",
                                           workdir=str(tmp_path))
    assert state_lib.restore_or_initialize(again, _config(), str(tmp_path), total_steps=4) == 3
