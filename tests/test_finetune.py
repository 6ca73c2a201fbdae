"""Fine-tuning end to end (configs/finetune.py) in both families, and the Garden + TFDS label path.

The starting checkpoints are written in the official TF1 and Garden layouts for the
small model of the same blocks (one block per stage), with random weights: they test
the loading, the new head, the training loop and the export, not ImageNet features.
The images are real photographs (three scikit-image samples, one class each) as
augmented crops in a folder-per-class tree; held-out crops come from another seed.
"""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import official_layouts as layouts
from conftest import tar_bytes
import photo_folders
from official.training import recipes
from official.modeling import normalization
from configs import finetune
from official.data import labels
from official.modeling import resnet_rs
from official.data import tfrecords
from official.training import loop as loop_lib
from official.training import inputs
from official.training import state

SMALL = (1, 1, 1, 1)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PER_CLASS = {"train": 16, "validation": 6}


@pytest.fixture(scope="module")
def photo_tree(tmp_path_factory):
    """(image root with train/ and validation/ folder trees, their TFRecords dir)."""
    root = tmp_path_factory.mktemp("photos")
    out = str(root / "tfrecords")
    for seed, split in enumerate(PER_CLASS):
        photo_folders.write_tree(str(root / split), PER_CLASS[split], seed=seed)
        examples, _ = tfrecords.image_folder_examples(str(root / split))
        tfrecords.write_tfrecords(examples, out, split, 1, load=tfrecords.read_file, progress=False)
    return root, out


def _small_checkpoint(monkeypatch, family, prefix):
    """A checkpoint of the small model in the family's official layout; returns the values
    the loader must produce by official layer key (EMA shadows / average slots)."""
    monkeypatch.setitem(layouts.BLOCKS, 50, SMALL)
    if family == "tf1":
        return layouts.write_tf1(prefix, depth=50)[1], layouts.tf1_layers(50)
    return layouts.write_garden(prefix, depth=50)[1], layouts.garden_layers(50)


def _config(family, data_dir, init_checkpoint):
    config = finetune.get_config(family)
    config.init_checkpoint = init_checkpoint
    config.model.block_counts = SMALL
    config.model.num_classes = 3
    config.data.update(dict(data_dir=data_dir, image_size=64, num_train_images=48, num_eval_images=18,
                            deterministic=True, shuffle_buffer=64))
    config.train.update(dict(global_batch_size=12, epochs=10.0, steps_per_loop=10,
                             checkpoint_every_steps=1000))
    # The test backbone is random, not pretrained: the head and features must learn from
    # scratch in 40 steps, so a higher LR than the recipe's fine-tuning LR.
    config.optimizer.base_lr_per_256 = 1.0
    config.ema.decay = 0.9
    config.eval.global_batch_size = 6
    return config


@pytest.mark.parametrize("family", ["tf1", "garden"])
def test_loading_fills_every_backbone_variable_and_keeps_a_new_head(monkeypatch, tmp_path, photo_tree, family):
    prefix = str(tmp_path / ("model.ckpt-1" if family == "tf1" else "ckpt-1"))
    values, official_layers = _small_checkpoint(monkeypatch, family, prefix)
    config = _config(family, photo_tree[1], prefix)
    model = state.model_from_config(config)
    head = [w.copy() for w in model.get_layer("logits").get_weights()]
    state.init_from_checkpoint(config, model)
    ours = resnet_rs.block_layer_names(50, SMALL)
    n = 0
    for mine, theirs in zip(ours[:-1], [name for name, _, _ in official_layers][:-1]):
        for v in model.get_layer(mine).weights:
            np.testing.assert_array_equal(v.numpy(), values[f"{theirs}/{v.name}"], err_msg=f"{mine}/{v.name}")
            n += 1
    assert n == len(model.weights) - 2
    for before, after in zip(head, model.get_layer("logits").get_weights()):
        np.testing.assert_array_equal(before, after)      # the new 3-class head, as initialised
    assert model.get_layer("logits").kernel.shape == (2048, 3)


def test_fine_tuning_checkpoint_of_the_wrong_depth_is_refused(monkeypatch, tmp_path, photo_tree):
    config = _config("tf1", photo_tree[1], "resnet-rs-101-i160")
    model = state.model_from_config(config)
    before = [w.numpy().copy() for w in model.weights]
    with pytest.raises(ValueError, match="ResNet-RS-101 checkpoint but config.model.depth=50"):
        state.init_from_checkpoint(config, model)
    monkeypatch.setitem(layouts.BLOCKS, 50, (1, 1, 2, 1))      # a deeper net on disk
    layouts.write_tf1(str(tmp_path / "model.ckpt-1"), depth=50)
    config.init_checkpoint = str(tmp_path / "model.ckpt-1")
    with pytest.raises(ValueError, match="shape mismatch|does not account for|lacks"):
        state.init_from_checkpoint(config, model)
    for b, w in zip(before, model.weights):
        np.testing.assert_array_equal(b, w.numpy())        # nothing loaded half-way


def _held_out(root):
    folder = root / "validation"
    return [(name, (folder / name / f).read_bytes()) for name in sorted(os.listdir(folder))
            for f in sorted(os.listdir(folder / name))]


@pytest.mark.slow  # two short training runs of the small model (~60 s each)
@pytest.mark.parametrize("family", ["tf1", "garden"])
def test_fine_tuning_beats_chance_and_the_export_serves_the_class_names(monkeypatch, tmp_path, photo_tree,
                                                                        family):
    root, data_dir = photo_tree
    prefix = str(tmp_path / "start" / ("model.ckpt-1" if family == "tf1" else "ckpt-1"))
    _small_checkpoint(monkeypatch, family, prefix)
    workdir = str(tmp_path / "run")
    if family == "tf1":      # through the trainer CLI, as a user runs it
        overrides = _config(family, data_dir, prefix)
        flags = [f"--config={ROOT}/configs/finetune.py:tf1", f"--workdir={workdir}",
                 f"--config.init_checkpoint={prefix}", "--config.model.block_counts=(1, 1, 1, 1)"]
        for key in ("model.num_classes", "data.data_dir", "data.image_size", "data.num_train_images",
                    "data.num_eval_images", "data.deterministic", "data.shuffle_buffer",
                    "train.global_batch_size", "train.epochs", "train.steps_per_loop",
                    "train.checkpoint_every_steps", "optimizer.base_lr_per_256", "ema.decay",
                    "eval.global_batch_size"):
            section, name = key.split(".")
            flags.append(f"--config.{key}={overrides[section][name]}")
        run = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "train.py")] + flags,
                             capture_output=True, text=True, timeout=600, cwd=str(tmp_path))
        assert run.returncode == 0, run.stderr[-3000:]
        # train.py ends with "done: step N, ..., ema_top_1 X, ...; SavedModel in DIR".
        done = [line for line in run.stdout.splitlines() if line.startswith("done: ")][-1]
        result = {"ema_top_1": float(re.search(r"ema_top_1 ([0-9.]+)", done).group(1)),
                  "export_dir": done.split("; SavedModel in ")[1].strip()}
    else:
        result = loop_lib.train_and_evaluate(_config(family, data_dir, prefix), workdir, handle_signals=False)
    assert result["ema_top_1"] > 0.6, result        # chance: 1/3 on the 18 held-out crops
    served = tf.saved_model.load(result["export_dir"]).signatures["serving_default"]
    held_out = _held_out(root)
    out = served(image_bytes=tf.constant([b for _, b in held_out]))
    names = [n.decode() for n in out["class_names"].numpy()[:, 0]]
    assert set(names) <= set(photo_folders.CLASSES)
    correct = [name == truth for name, (truth, _) in zip(names, held_out)]
    assert np.mean(correct) > 0.6, list(zip(names, [t for t, _ in held_out]))
    assert out["logits"].shape == (len(held_out), 3)


# --------------------------------------------------------------- Garden recipe on TFDS labels --
SYNSETS = ("n01440764", "n01443537", "n01484850")        # ImageNet classes 0, 1, 2



def test_garden_recipe_on_tfds_labels_exports_columns_0_to_999(tmp_path):
    """TFDS labels are 0-based: the Garden's 1001-way head then never sees column 1000,
    and column 0 is ImageNet class 0 (tench), not a background to drop."""
    manual = tmp_path / "manual"
    manual.mkdir()
    jpegs = [photo_folders.jpeg(c) for c in photo_folders.crops("chelsea", 6, seed=0, size=64)]
    inner = [(f"{s}.tar", tar_bytes([(f"{s}_{k}.JPEG", jpegs[2 * i + k]) for k in range(2)]))
             for i, s in enumerate(SYNSETS)]
    (manual / "ILSVRC2012_img_train.tar").write_bytes(tar_bytes(inner))
    (manual / "ILSVRC2012_img_val.tar").write_bytes(tar_bytes(
        [(f"ILSVRC2012_val_{k:08d}.JPEG", jpegs[k]) for k in (1, 2)]))
    config = recipes.recipe(50, 64, 0.0, 0.0, 0, family="garden")
    config.model.block_counts = SMALL
    config.data.update(dict(source="tfds", tfds_name="imagenet2012", data_dir=str(tmp_path / "tfds"),
                            tfds_manual_dir=str(manual), num_train_images=6, num_eval_images=2))
    config.train.update(dict(global_batch_size=3, max_steps=2, steps_per_loop=2, checkpoint_every_steps=2))
    config.ema.decay = 0.0
    config.model.bn_momentum = 0.9
    config.eval.global_batch_size = 2
    assert labels.unused_logit_column(config) == 1000
    config.export.enabled = False
    loop_lib.train_and_evaluate(config, str(tmp_path / "run"), handle_signals=False)
    model = state.model_from_config(config)
    tf.train.Checkpoint(model=model).read(tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints"))
                                          ).expect_partial()
    export_dir = loop_lib.export_model(config, model, None, str(tmp_path / "export"))
    served = tf.saved_model.load(export_dir).signatures["serving_default"]
    out = served(image_bytes=tf.constant(jpegs[:2]))
    from official.data import preprocessing  # pylint: disable=import-outside-toplevel
    images = tf.stack([preprocessing.preprocess_for_eval(b, 64, "garden") for b in jpegs[:2]])
    in_process = model(normalization.normalize(images)).numpy()
    assert out["logits"].shape == (2, 1000)
    np.testing.assert_allclose(out["logits"].numpy(), in_process[:, :1000], atol=1e-5, rtol=0)
    # The Garden's TFRecords (1-based labels) keep dropping column 0.
    config.data.source = "tfrecord"
    assert labels.unused_logit_column(config) == 0


# --------------------------------------------------------------- a folder and a checkpoint, named --
def _folder_config(family, image_dir, **model):
    config = finetune.get_config(family)
    config.model.block_counts = SMALL
    config.model.update(model)
    config.data.image_dir = str(image_dir)
    return config


def test_folder_gives_the_classes_names_and_counts_and_refuses_other_numbers(tmp_path):
    photo_folders.write_tree(str(tmp_path / "photos"), per_class=10, seed=0)
    config = _folder_config("tf1", tmp_path / "photos")
    assert (config.model.num_classes, config.data.num_train_images) == (0, 0)      # from the data
    described = inputs.resolve_data(config)
    assert config.data.source == "folder" and config.model.num_classes == 3
    assert config.model.class_names == ("astronaut", "chelsea", "coffee")
    assert (config.data.num_train_images, config.data.num_eval_images) == (8 + 8 + 8, 2 + 2 + 2)
    assert described.startswith(f"{tmp_path / 'photos'}: 3 classes (astronaut, chelsea, coffee), 24 training")
    assert labels.class_names(config) == ["astronaut", "chelsea", "coffee"]
    assert state.model_from_config(config).class_names == ("astronaut", "chelsea", "coffee")
    published = recipes.published_config("resnet-rs-50-i160")()       # ImageNet's 1000 / 1281167: replaced
    published.data.image_dir = str(tmp_path / "photos")
    inputs.resolve_data(published)
    assert (published.model.num_classes, published.data.num_train_images) == (3, 24)

    config = _folder_config("tf1", tmp_path / "photos", num_classes=4)
    with pytest.raises(ValueError, match=r"^config.model.num_classes=4 but data.image_dir=.* has 3: leave it out"):
        inputs.resolve_data(config)
    config = _folder_config("tf1", tmp_path / "photos")
    config.data.data_dir = str(tmp_path)
    with pytest.raises(ValueError, match="are both set: give one of them"):
        inputs.resolve_data(config)


def _native_run(workdir, config):
    """A workdir as the trainer leaves it: model_config.json and checkpoints/ckpt-N of the model."""
    model = state.model_from_config(config)
    state.check_workdir_model(config, str(workdir), chief=True)
    tf.train.CheckpointManager(tf.train.Checkpoint(model=model), str(workdir / "checkpoints"), 2).save(7)
    return model


def test_init_checkpoint_layout_is_read_from_the_file(monkeypatch, tmp_path, photo_tree):
    _small_checkpoint(monkeypatch, "tf1", str(tmp_path / "tf1" / "model.ckpt-1"))
    _small_checkpoint(monkeypatch, "garden", str(tmp_path / "garden" / "ckpt-1"))
    layouts.write_garden(str(tmp_path / "ema" / "average_weights-1"), depth=50, averages_in_model=True)
    config = _config("tf1", photo_tree[1], str(tmp_path / "tf1"))
    assert config.init_checkpoint_format == "auto"
    assert state.init_checkpoint_source(config) == (str(tmp_path / "tf1" / "model.ckpt-1"), "tf1")
    garden = _config("garden", photo_tree[1], str(tmp_path / "garden" / "ckpt-1"))
    assert state.init_checkpoint_source(garden) == (str(tmp_path / "garden" / "ckpt-1"), "garden")
    garden.init_checkpoint = str(tmp_path / "ema" / "average_weights-1")
    assert state.init_checkpoint_source(garden)[1] == "garden"
    garden.init_checkpoint = "resnet-rs-50-i160"                      # an official name: the family's
    assert state.init_checkpoint_source(garden) == ("resnet-rs-50-i160", "garden")

    config.init_checkpoint = str(tmp_path / "garden" / "ckpt-1")        # the other family's
    with pytest.raises(ValueError, match="is a garden-family checkpoint but the config builds the tf1 family"):
        state.init_checkpoint_source(config)
    config.init_checkpoint, config.init_checkpoint_format = str(tmp_path / "tf1"), "native"
    with pytest.raises(ValueError, match="init_checkpoint_format='native' but .* is a tf1-layout checkpoint"):
        state.init_checkpoint_source(config)
    config.init_checkpoint, config.init_checkpoint_format = str(tmp_path / "nope"), "auto"
    with pytest.raises(FileNotFoundError, match="is no official name .* not found"):
        state.init_checkpoint_source(config)

    # One of our runs: its workdir (the latest checkpoint), its model checked against ours.
    run_config = _config("tf1", photo_tree[1], "")
    source = _native_run(tmp_path / "run", run_config)
    config.init_checkpoint = str(tmp_path / "run")
    assert state.init_checkpoint_source(config) == (str(tmp_path / "run" / "checkpoints" / "ckpt-7"), "native")
    model = state.model_from_config(config)
    state.init_from_checkpoint(config, model)
    for mine, theirs in zip(model.weights, source.weights):        # the backbone: all but the head
        if "logits" not in mine.path:
            np.testing.assert_array_equal(mine.numpy(), theirs.numpy(), err_msg=mine.path)
    config.model.block_counts = (1, 1, 2, 1)
    with pytest.raises(ValueError, match=r"is a run of another model \(block_counts \[1, 1, 1, 1\] there"):
        state.init_checkpoint_source(config)


def test_an_empty_init_checkpoint_is_announced_as_training_from_scratch(tmp_path, photo_tree, caplog, capfd):
    config = _config("tf1", photo_tree[1], "")         # --config.init_checkpoint=
    train_state = state.create_train_state(config, tf.distribute.get_strategy(), "float32", str(tmp_path))
    with caplog.at_level("INFO", logger="absl"):
        assert state.restore_or_initialize(train_state, config, str(tmp_path), total_steps=10) == 0
    logged = caplog.text + capfd.readouterr().err
    assert "config.init_checkpoint is empty: training from scratch (random initial weights)" in logged
