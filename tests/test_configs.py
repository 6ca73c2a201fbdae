"""The eleven recipe files against docs/fidelity.md (recipes), and config validation."""

import importlib
import inspect

import pytest

from official.modeling import resnet_rs
from official.training import config as config_lib

# The TF1 configs' values, the Garden's RandAugment magnitude and both published top-1s.
TABLE = {
    "resnetrs50_i160": (50, 160, 0.25, 0.0, 10, 10, 78.8, 79.1),
    "resnetrs101_i160": (101, 160, 0.25, 0.0, 10, 15, 80.3, 80.2),
    "resnetrs101_i192": (101, 192, 0.25, 0.0, 15, 15, 81.2, 81.3),
    "resnetrs152_i192": (152, 192, 0.25, 0.0, 15, 15, 82.0, 81.9),
    "resnetrs152_i224": (152, 224, 0.25, 0.0, 15, 15, 82.2, 82.5),
    "resnetrs152_i256": (152, 256, 0.25, 0.0, 15, 15, 83.0, 83.1),
    "resnetrs200_i256": (200, 256, 0.25, 0.1, 15, 15, 83.4, 83.5),
    "resnetrs270_i256": (270, 256, 0.25, 0.1, 15, 15, 83.8, 83.6),
    "resnetrs350_i256": (350, 256, 0.25, 0.1, 15, 15, 84.0, 83.7),
    "resnetrs350_i320": (350, 320, 0.4, 0.1, 15, 15, 84.2, 84.2),
    "resnetrs420_i320": (420, 320, 0.4, 0.1, 15, 15, 84.4, None),
}


def _assert_typed(got, want):
    """Equal values of equal types: `0 == 0.0` in Python, but a ConfigDict field holding the
    int 0 refuses `--config.model.bn_momentum=0.9` (its type is locked), so 0 is a bug."""
    assert [(type(v).__name__, v) for v in got] == [(type(v).__name__, v) for v in want]


@pytest.mark.parametrize("name", sorted(TABLE))
def test_recipe_values(name):
    depth, size, dropout, drop_connect, m_tf1, m_garden, top1, garden_top1 = TABLE[name]
    module = importlib.import_module(f"configs.{name}")
    for family, magnitude in (("", m_tf1), ("garden", m_garden)):
        c = module.get_config(family)
        _assert_typed((c.model.depth, c.data.image_size, c.model.dropout_rate, c.model.drop_connect_rate,
                       c.data.randaug_magnitude), (depth, size, dropout, drop_connect, magnitude))
        _assert_typed((c.train.global_batch_size, c.train.epochs, c.train.warmup_epochs,
                       c.optimizer.base_lr_per_256, c.optimizer.momentum, c.loss.label_smoothing),
                      (4096, 350.0, 5.0, 0.1, 0.9, 0.1))
        _assert_typed((c.optimizer.weight_decay, c.ema.decay, c.model.bn_momentum, c.model.bn_epsilon,
                       c.data.randaug_num_layers, c.model.se_ratio), (4e-5, 0.9999, 0.0, 1e-5, 2, 0.25))
        c.data.data_dir = "/data/imagenet"
        config_lib.check_config(c)
        # 312 steps/epoch and 1560 warm-up steps (the Garden's) in both; the run is counted as
        # each family's trainer counts it (test_each_family_counts_the_run_as_its_trainer).
        assert config_lib.run_lengths(c) == (312, 109475 if family == "" else 109200, 1560)
        # Every model key is a ResNetRS argument.
        assert set(c.model) <= set(inspect.signature(resnet_rs.ResNetRS).parameters)
    tf1, garden = module.get_config(""), module.get_config("garden")
    assert (tf1.model.num_classes, tf1.data.label_offset, tf1.model.activation) == (1000, 1, "relu")
    assert (garden.model.num_classes, garden.data.label_offset, garden.model.activation) == (1001, 0, "swish")
    assert tf1.optimizer.nesterov and not garden.optimizer.nesterov
    assert (tf1.optimizer.weight_decay_rule, garden.optimizer.weight_decay_rule) == ("tf1", "garden")
    assert tf1.model.padding == "fixed" and garden.model.padding == "same"
    doc = module.__doc__
    assert f"--config=configs/{name}.py" in doc and f"{top1}" in doc
    if garden_top1:
        assert f"{garden_top1}" in doc


def test_each_family_counts_the_run_as_its_trainer():
    """RS-50 on ImageNet at batch 4096 for 350 epochs: the TF1 configs' train_steps is
    ceil(350 x 1281167 / 4096) = 109475; the Garden's cosine runs 350 x (1281167 // 4096)
    = 350 x 312 = 109200 steps. Each family's recipe runs its own number."""
    from configs import resnetrs50_i160
    tf1, garden = resnetrs50_i160.get_config("tf1"), resnetrs50_i160.get_config("garden")
    assert (tf1.data.num_train_images, tf1.train.global_batch_size, tf1.train.epochs) == (1281167, 4096, 350.0)
    assert (garden.data.num_train_images, garden.train.global_batch_size) == (1281167, 4096)
    assert config_lib.run_lengths(tf1)[1] == 109475
    assert config_lib.run_lengths(garden)[1] == 109200
    # The rule is the config's, not the family's defaults: a TF1 model with the Garden's count.
    tf1.train.run_length_rule = "garden"
    assert config_lib.run_lengths(tf1)[1] == 109200
    tf1.train.max_steps = 7
    assert config_lib.run_lengths(tf1)[1] == 7


def test_unknown_family():
    from configs import resnetrs50_i160
    with pytest.raises(ValueError, match="family"):
        resnetrs50_i160.get_config("keras")


def test_configdict_rejects_unknown_keys_and_wrong_types():
    from configs import demo
    c = demo.get_config()
    with pytest.raises(AttributeError):
        _ = c.train.epochz
    with pytest.raises(TypeError):
        c.train.epochs = "many"


@pytest.mark.parametrize("field, value, message", [
    ("optimizer.schedule", "linear", "config.optimizer.schedule"),
    ("optimizer.weight_decay_rule", "all", "config.optimizer.weight_decay_rule"),
    ("model.dropout_rate", 1.5, "config.model.dropout_rate"),
    ("loss.label_smoothing", -0.1, "config.loss.label_smoothing"),
    ("train.precision", "float64", "config.train.precision"),
    ("model.bn_momentum", 0.9, "bn_momentum"),           # with EMA: refused as in TF1 (docs/fidelity.md: EMA)
    ("train.global_batch_size", 0, "config.train.global_batch_size"),
    ("model.depth", 34, "config.model.depth"),
    ("data.data_dir", "", "config.data.data_dir"),
    ("init_checkpoint_format", "pytorch", "config.init_checkpoint_format"),
    ("train.run_length_rule", "keras", "config.train.run_length_rule"),
])
def test_validate_config_names_the_field(field, value, message):
    from configs import resnetrs50_i160
    c = resnetrs50_i160.get_config()
    c.data.data_dir = "/data/imagenet"
    section, _, key = field.rpartition(".")
    (c[section] if section else c)[key] = value
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        config_lib.check_config(c)


def test_demo_config_is_valid():
    from configs import demo
    c = demo.get_config()
    c.data.data_dir = "/tmp/x"
    config_lib.check_config(c)
    assert c.model.depth == 50 and c.model.num_classes == 10 and c.data.label_offset == 1
