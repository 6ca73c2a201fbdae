"""Resuming a real training checkpoint written under the Keras momentum rule with the
TF1 rule: the slots are converted once (a = -v/lr(step)), never silently reused.

A short real run (the small model, block_counts (1, 1, 1, 1), 32 px, batch 4, generated
ImageNet-format TFRecords) writes the Keras-rule checkpoint; a copy of it without the
`momentum_rule` entry is what runs before the rule was recorded wrote.
"""

import logging
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import trackable_object_graph_pb2

from official.training import optimizer as optimizer_lib
from official.training import schedules
from official.training import loop
from test_train import data_dir, tiny_config  # noqa: F401  pylint: disable=unused-import

RULE_KEY = "momentum_rule/.ATTRIBUTES/VARIABLE_VALUE"
GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"


def _config(data_dir, rule):  # noqa: F811  pylint: disable=redefined-outer-name
    config = tiny_config(data_dir, export=False, max_steps=4)   # the cosine spans 4 steps
    config.model.block_counts = (1, 1, 1, 1)
    config.optimizer.momentum_rule = rule
    return config


def _values(workdir, step):
    reader = tf.train.load_checkpoint(os.path.join(workdir, "checkpoints", f"ckpt-{step}"))
    return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
            if k not in (GRAPH_KEY, RULE_KEY) and "save_counter" not in k}


def _without_rule_record(source_prefix, target_prefix):
    """Rewrites a checkpoint as the trainer wrote it before the rule was recorded."""
    reader = tf.train.load_checkpoint(source_prefix)
    graph = trackable_object_graph_pb2.TrackableObjectGraph.FromString(reader.get_tensor(GRAPH_KEY))
    root = graph.nodes[0]
    (child,) = [c for c in root.children if c.local_name == "momentum_rule"]
    graph.nodes[child.node_id].ClearField("attributes")
    root.children.remove(child)
    names = sorted(k for k in reader.get_variable_to_shape_map() if k not in (GRAPH_KEY, RULE_KEY))
    tensors = [tf.constant(reader.get_tensor(k)) for k in names] + [tf.constant(graph.SerializeToString())]
    names.append(GRAPH_KEY)
    tf.raw_ops.SaveV2(prefix=target_prefix, tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=tensors)


@pytest.fixture(scope="module")
def keras_rule_workdir(data_dir, tmp_path_factory):  # noqa: F811  pylint: disable=redefined-outer-name
    """2 real steps under the Keras rule (of a 4-step run): ckpt-2 records 'keras'."""
    workdir = str(tmp_path_factory.mktemp("keras_rule"))
    result = loop.train_and_evaluate(_config(data_dir, "keras"), workdir, stop_at_step=2)
    assert result["step"] == 2
    return workdir


def _resume(source, workdir, data_dir, rule, stop_at_step, strip=False):  # noqa: F811
    shutil.copytree(source, workdir)
    if strip:
        prefix = os.path.join("checkpoints", "ckpt-2")
        _without_rule_record(os.path.join(source, prefix), os.path.join(workdir, prefix))
        assert not tf.train.load_checkpoint(os.path.join(workdir, prefix)).has_tensor(RULE_KEY)
    loop.train_and_evaluate(_config(data_dir, rule), workdir, stop_at_step=stop_at_step)
    return _values(workdir, stop_at_step)


@pytest.mark.slow
def test_old_checkpoint_is_converted_once_and_the_next_step_is_the_old_rules(
        data_dir, keras_rule_workdir, tmp_path, caplog):  # noqa: F811  pylint: disable=redefined-outer-name
    caplog.set_level(logging.WARNING)
    keras_prefix = os.path.join(keras_rule_workdir, "checkpoints", "ckpt-2")
    assert optimizer_lib.recorded_rule(keras_prefix) == "keras"
    # Reference: the Keras-rule run goes on for one more step.
    keras_3 = _resume(keras_rule_workdir, str(tmp_path / "keras"), data_dir, "keras", 3)
    assert "converted them once" not in caplog.text
    # A TF1-rule run resumes the same checkpoint, as written before the rule was recorded.
    tf1_dir = str(tmp_path / "tf1")
    tf1_3 = _resume(keras_rule_workdir, tf1_dir, data_dir, "tf1", 3, strip=True)
    assert caplog.text.count("converted them once") == 1

    # Keras' optimizer holds the slots (and its step and rate) in `_variables`.
    slots = [k for k, v in keras_3.items() if k.startswith("optimizer/_variables/") and v.ndim]
    assert len(slots) > 10 and set(tf1_3) == set(keras_3)
    # The converted slots make step 3's update the one the Keras rule would have made...
    before = _values(keras_rule_workdir, 2)
    for k in set(keras_3) - set(slots):
        want, got = keras_3[k] - before[k], tf1_3[k] - before[k]
        np.testing.assert_allclose(got, want, rtol=1e-3, err_msg=k,
                                   atol=8 * np.finfo(np.float32).eps * np.max(np.abs(keras_3[k])))
    # ... and hold TF1's accumulator a = -v/lr(2) from then on (lr(2) = half the peak).
    lr = float(schedules.WarmupCosine(0.1 * 4 / 256, 4, 0)(2))
    assert lr == pytest.approx(0.1 * 4 / 256 / 2)
    moved = 0
    for k in slots:
        np.testing.assert_allclose(tf1_3[k], -keras_3[k] / lr, rtol=1e-4,
                                   atol=1e-5 * np.max(np.abs(tf1_3[k])), err_msg=k)
        moved += bool(np.any(keras_3[k]))
    assert moved > 10
    assert optimizer_lib.recorded_rule(os.path.join(tf1_dir, "checkpoints", "ckpt-3")) == "tf1"



def test_bad_rule_stops_at_startup(data_dir, tmp_path):  # noqa: F811  pylint: disable=redefined-outer-name
    with pytest.raises(ValueError, match=r"config\.optimizer\.momentum_rule.*'nesterov'"):
        loop.train_and_evaluate(_config(data_dir, "nesterov"), str(tmp_path / "bad"))
