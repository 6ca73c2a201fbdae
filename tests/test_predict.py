"""tools/convert_checkpoint.py and tools/predict.py, and the shipped class names."""

import numpy as np
import pytest
import skimage.data
import tensorflow as tf

import official_layouts as layouts
from conftest import run_python
from official.data import imagenet_classes


def test_class_names_are_the_1000_sorted_synsets():
    synsets, names = imagenet_classes.synsets(), imagenet_classes.names()
    assert len(synsets) == len(set(synsets)) == len(names) == 1000
    assert synsets == sorted(synsets) and synsets[0] == "n01440764" and synsets[-1] == "n15075141"
    assert names[0].startswith("tench") and names[1].startswith("goldfish")
    # docs/fidelity.md (TF1 checkpoints): the official reference logits for the panda image have argmax 388, "giant panda".
    assert synsets[388] == "n02510455" and imagenet_classes.short_names()[388] == "giant panda"


_run = run_python


def test_a_missing_model_is_named_in_one_line(tmp_path):
    image = tmp_path / "cat.jpg"
    image.write_bytes(tf.io.encode_jpeg(skimage.data.chelsea()).numpy())
    result = _run("tools/predict.py", f"--model={tmp_path / 'ft' / 'export'}", str(image))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    # Said with the flags, as absl says every flag error, before TensorFlow loads.
    assert result.stderr.strip().splitlines()[0] == (
        f"FATAL Flags parsing error: flag --model={tmp_path / 'ft' / 'export'}: no such file or directory; give "
        "a SavedModel directory, a .keras or .weights.h5 file, a checkpoint prefix or folder, one of our "
        "training workdirs, or an official name (resnet-rs-50-i160, ...)")
    assert "--image_size" not in result.stderr


@pytest.mark.slow  # two CLI runs on an RS-50 (~40 s)
def test_convert_then_predict(tmp_path):
    prefix = str(tmp_path / "resnet-rs-50-i160" / "model.ckpt")
    layouts.write_tf1(prefix, depth=50, momentum=False)
    output = tmp_path / "rs50.keras"
    result = _run("tools/convert_checkpoint.py", f"--checkpoint={prefix}", "--checkpoint_format=tf1",
                  "--depth=50", "--image_size=64", f"--output={output}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "legacy bicubic" in result.stdout and "int(64/(64+32)" in result.stdout
    assert output.exists() and (tmp_path / "rs50.keras.preprocessing.json").exists()

    good = tmp_path / "cat.jpg"
    good.write_bytes(tf.io.encode_jpeg(skimage.data.chelsea()).numpy())
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    result = _run("tools/predict.py", f"--model={output}", str(good), str(broken), str(tmp_path / "absent.png"))
    assert result.returncode == 1
    assert f"cannot classify {broken}" in result.stderr and f"cannot classify {tmp_path / 'absent.png'}" in result.stderr

    # The printed top-5 are the reference network's top-5 on the TF1-preprocessed photo.
    image = layouts.reference_tf1_preprocess(good.read_bytes(), 64)[None]
    top5 = np.argsort(-layouts.reference_logits(prefix, "tf1", 50, image)[0])[:5]
    lines = result.stdout.split(str(good))[1].strip().splitlines()[:5]
    assert [f"class {c})" in line for line, c in zip(lines, top5)] == [True] * 5, result.stdout
    assert imagenet_classes.names()[top5[0]] in lines[0]

    # The .keras model records its network: a --depth it cannot use is refused, not ignored.
    refused = _run("tools/predict.py", f"--model={output}", "--depth=101", str(good))
    assert refused.returncode == 1 and "--depth would be ignored" in refused.stderr, refused.stderr[-2000:]
