"""The table of published checkpoints and the two family descriptions, against literal values.

The numbers are the tests' own, written out by hand from the official releases (the
tensorflow/tpu README and configs, the Model Garden's MODEL_GARDEN.md and yamls) in
tests/test_configs.py, independently of official/published.py, so that a typo in the
table fails here.
"""

import importlib

import pytest
from test_configs import TABLE

from official.checkpoints import files as checkpoint_files
from official import families
from official import published

# The tests' own copy of the releases (tests/test_configs.py), by checkpoint name:
# (depth, size, dropout, stochastic depth, RandAugment M tf1, M garden, top-1 tf1, top-1 garden).
RELEASED = {f"resnet-rs-{v[0]}-i{v[1]}": v for v in TABLE.values()}
TF1_URL = "https://storage.googleapis.com/cloud-tpu-checkpoints/resnet-rs/{}.tar.gz"
GARDEN_URL = "https://storage.googleapis.com/tf_model_garden/vision/resnet-rs/{}.tar.gz"


def test_table_matches_the_releases():
    assert list(published.CHECKPOINTS) == list(RELEASED)
    for name, (depth, size, dropout, sd, m_tf1, m_garden, top1, garden_top1) in RELEASED.items():
        c = published.get(name)
        assert (c.name, c.depth, c.image_size, c.dropout_rate, c.drop_connect_rate) == (
            name, depth, size, dropout, sd)
        assert c.randaug_magnitude == {"tf1": m_tf1, "garden": m_garden}
        assert c.top1 == ({"tf1": top1, "garden": garden_top1} if garden_top1 else {"tf1": top1})
        assert c.url("tf1") == TF1_URL.format(name)
        assert c.eval_preprocessing("tf1") == {"image_size": size, "preprocessing": "tf1", "crop_padding": 32}
        assert c.eval_preprocessing("garden")["preprocessing"] == "garden"
        if garden_top1:
            assert c.url("garden") == GARDEN_URL.format(name)
        else:
            with pytest.raises(ValueError, match=f"published no {name}"):
                c.url("garden")
    with pytest.raises(ValueError, match="unknown official checkpoint name 'resnet-rs-51-i160'"):
        published.get("resnet-rs-51-i160")


def test_views_derive_from_the_table():
    """checkpoint_files.OFFICIAL and the benchmark's Pareto list (official/benchmarks/throughput.py) read the table (the recipe files:
    tests/test_configs.py)."""
    assert checkpoint_files.OFFICIAL == {n: v[:2] for n, v in RELEASED.items()}
    from official.benchmarks import throughput as throughput_lib
    assert throughput_lib.PUBLISHED == [v[:2] + (v[6],) for v in RELEASED.values()]
    # RS-420: the Garden released none, and its recipe file does not pretend otherwise.
    assert "Model Garden" not in importlib.import_module("configs.resnetrs420_i320").__doc__


def test_family_descriptions():
    tf1, garden = families.get("tf1"), families.get("garden")
    assert tf1.architecture() == dict(activation="relu", padding="fixed", stage2_shortcut_pool=False,
                                      num_classes=1000, zero_init_last_bn=True, head_initializer="tf1")
    assert garden.architecture() == dict(activation="swish", padding="same", stage2_shortcut_pool=True,
                                         num_classes=1001, zero_init_last_bn=False, head_initializer="garden")
    assert (tf1.label_offset, garden.label_offset) == (1, 0)
    assert (tf1.nesterov, garden.nesterov) == (True, False)
    assert (tf1.weight_decay_on_biases, garden.weight_decay_on_biases) == (True, False)
    assert (tf1.min_object_covered, garden.min_object_covered) == (0.1, 0.08)
    assert (tf1.crop_padding, garden.eval_crop_fraction) == (32, 0.875)
    assert families.FORMATS == ("tf1", "garden", "native")
    assert [families.of_format(f).name for f in families.FORMATS] == ["tf1", "garden", "tf1"]
    assert families.of_format("tf1", "garden").name == "garden"
    with pytest.raises(ValueError, match="family must be one of"):
        families.get("keras")
    with pytest.raises(ValueError, match="checkpoint format must be one of"):
        families.of_format("onnx")


@pytest.mark.slow   # a SavedModel export: ~30 s on 2 cores, more when they are shared
def test_exported_metadata_names_the_published_checkpoint(tmp_path):
    """An export of an official checkpoint records its name and published top-1 (small model)."""
    from official.serving import export
    from official.modeling import resnet_rs
    model = resnet_rs.ResNetRS(50, block_counts=(1, 1, 1, 1), input_shape=(None, None, 3))
    path = export.export_saved_model(model, tmp_path / "export", 64, warmup=False,
                                     published_name="resnet-rs-50-i160")
    meta = export.read_metadata(path)
    assert meta["published"] == {"name": "resnet-rs-50-i160", "top1": 78.8}
    assert (meta["image_size"], meta["preprocessing"], meta["crop_padding"]) == (64, "tf1", 32)

