"""The user journeys after `pip install`, run as a user runs them.

The wheel is built from the checkout and installed into a fresh virtual environment
(tests/test_install.py, offline); every command runs from a directory outside the
checkout, through the installed console scripts. The data is a folder-per-class tree
of real JPEGs (crops of scikit-image's photographs, tests/photo_folders.py); the
starting checkpoints are written in the official TF1 and Garden layouts
(tests/official_layouts.py) for the small model of the same blocks, which
`--config.model.block_counts=1,1,1,1` trains in seconds. Random starting weights: these
runs test the commands, the split, the loading, the export and the names, not accuracy
(tests/test_finetune.py checks that fine-tuning learns).
"""

import os
import re

import pytest

import official_layouts as layouts
import photo_folders
from test_install import install_wheel

pytestmark = pytest.mark.slow   # a wheel, a venv, two short fine-tuning runs (~5 min)

SCRIPTS = ("resnet-rs-train", "resnet-rs-evaluate", "resnet-rs-export", "resnet-rs-predict",
           "resnet-rs-convert", "resnet-rs-make-tfrecords", "resnet-rs-make-demo-data",
           "resnet-rs-benchmark", "resnet-rs-compare-performance", "resnet-rs-compare-precision")
SMALL = "--config.model.block_counts=1,1,1,1"
CLASSES = tuple(sorted(photo_folders.CLASSES))
RANKED = re.compile(r"^\s+\d\. (\S+) \(class (\d+)\): [0-9.]+$", re.M)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    return install_wheel(tmp_path_factory.mktemp("install"))


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """PHOTOS/<class>/NNN.jpg, 14 per class: 12 train and 2 held out of each at the default 15%."""
    root = tmp_path_factory.mktemp("data") / "PHOTOS"
    photo_folders.write_tree(str(root), per_class=14, seed=0)
    return root


def _small_checkpoint(family, directory):
    """The small model's checkpoint in the family's official layout; returns what to pass."""
    saved = layouts.BLOCKS[50]
    layouts.BLOCKS[50] = (1, 1, 1, 1)
    try:
        if family == "tf1":
            prefix = os.path.join(directory, "model.ckpt-1")
            layouts.write_tf1(prefix, depth=50)
            return prefix
        layouts.write_garden(os.path.join(directory, "ckpt-1"), depth=50)
        return directory          # a folder holding one checkpoint
    finally:
        layouts.BLOCKS[50] = saved


def test_every_console_script_help_exits_0(installed):
    for script in SCRIPTS:
        shown = installed.run(script, "--help")
        assert shown.returncode == 0 and "Traceback" not in shown.stderr, (script, shown.stderr[-2000:])
        assert "flags:" in shown.stdout, (script, shown.stdout[-2000:])
        if script in ("resnet-rs-train", "resnet-rs-evaluate"):
            assert "--config: Recipe: a name" in shown.stdout, shown.stdout


@pytest.mark.parametrize("family", ["tf1", "garden"])
def test_fine_tune_from_a_folder_in_one_command_then_predict_names_its_classes(installed, photos, tmp_path,
                                                                               family):
    checkpoint = _small_checkpoint(family, str(tmp_path / "start"))
    workdir = tmp_path / "W"
    run = installed.run("resnet-rs-train", f"--config=finetune:{family}", f"--workdir={workdir}",
                        f"--config.data.image_dir={photos}", f"--config.init_checkpoint={checkpoint}",
                        "--config.train.epochs=3", SMALL)
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr[-3000:]
    assert f"{photos}: 3 classes (astronaut, chelsea, coffee), 36 training and 6 held-out images" in run.stderr
    assert f"({family} layout); the head is new" in run.stderr, run.stderr[-3000:]
    assert "ResNet-RS-50 (blocks per stage 1,1,1,1), 3 classes, on 1 replica(s)" in run.stderr
    held_out = [line for line in run.stdout.splitlines() if "top-1" in line or "top_1" in line]
    assert any(re.match(r"held-out top-1 [0-9.]+ on 6 images of 'validation' \(EMA weights\)$", line)
               for line in held_out), run.stdout
    assert max(len(line) for line in run.stdout.splitlines()) <= 200
    assert (workdir / "export" / "saved_model.pb").is_file()

    if family == "tf1":   # the same held-out split, evaluated again from the checkpoint
        evaluated = installed.run("resnet-rs-evaluate", "--config=finetune:tf1", f"--checkpoint={workdir}",
                                  f"--config.data.image_dir={photos}", SMALL)
        assert evaluated.returncode == 0, evaluated.stderr[-3000:]
        assert re.search(r"ema_top_1=[0-9.]+ ema_top_5=[0-9.]+ count=6$", evaluated.stdout.strip()), evaluated.stdout

    # Predict speaks the folder's classes, from the export and from the run itself.
    image = photos / "chelsea" / "000.jpg"
    for model in (workdir / "export", workdir):
        predicted = installed.run("resnet-rs-predict", f"--model={model}", image)
        assert predicted.returncode == 0, predicted.stderr[-3000:]
        ranked = RANKED.findall(predicted.stdout)
        assert sorted(ranked) == [(name, str(i)) for i, name in enumerate(CLASSES)], predicted.stdout


def test_keras_file_carries_its_class_names_to_predict(installed, photos, tmp_path):
    path = tmp_path / "three.keras"
    saved = installed.run(installed.python, "-c", (
        "import sys; from official.modeling import resnet_rs; "
        "m = resnet_rs.ResNetRS(50, block_counts=(1, 1, 1, 1), num_classes=3, class_names=sys.argv[2:]); "
        "m.save(sys.argv[1])"), path, *CLASSES)
    assert saved.returncode == 0, saved.stderr[-3000:]
    predicted = installed.run("resnet-rs-predict", f"--model={path}", "--image_size=64",
                              photos / "coffee" / "000.jpg")
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    assert sorted(RANKED.findall(predicted.stdout)) == [(name, str(i)) for i, name in enumerate(CLASSES)]


def test_the_applications_run_on_jax_from_the_installed_wheel(installed, tmp_path):
    checked = installed.run(installed.python, "-c", (
        "import sys, numpy as np, keras; import official.applications as a; "
        "m = a.ResNetRS50(block_counts=(1, 1, 1, 1), input_shape=(64, 64, 3), classes=3, "
        "class_names=['a', 'b', 'c']); p = m.predict(np.zeros((2, 64, 64, 3), 'float32'), verbose=0); "
        "m.save(sys.argv[1]); back = keras.saving.load_model(sys.argv[1]); "
        "print(keras.backend.backend(), p.shape, ','.join(back.class_names))"), tmp_path / "m.keras",
        env={"KERAS_BACKEND": "jax"})
    assert checked.returncode == 0, checked.stderr[-3000:]
    assert checked.stdout.split() == ["jax", "(2,", "3)", "a,b,c"]
