"""Export options beyond the family's eval path: the Garden's serving preprocessing, TensorFlow Lite."""

import numpy as np
import pytest
import tensorflow as tf

import official_layouts as layouts
from official import applications
from official import demo_data
from official import export
from official import preprocessing
from official import tflite

SMALL = (1, 1, 1, 1)
SIZE = 64
MEAN = np.array([0.485, 0.456, 0.406], np.float32) * 255
STD = np.array([0.229, 0.224, 0.225], np.float32) * 255


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Small models (one block per stage) holding official-layout checkpoints of random
    weights that keep the activations O(1), so the logits are not all near zero."""
    root = tmp_path_factory.mktemp("small")
    out = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(layouts.BLOCKS, 50, SMALL)
        for family, prefix in (("tf1", root / "tf1" / "model.ckpt-1"), ("garden", root / "garden" / "ckpt-1")):
            (layouts.write_tf1 if family == "tf1" else layouts.write_garden)(str(prefix), depth=50)
            out[family] = applications.ResNetRS50(weights=str(prefix), family=family, block_counts=SMALL,
                                                  classifier_activation=None, include_preprocessing=False)
    return out


@pytest.fixture(scope="module")
def jpegs():
    """Real photographs of several sizes and aspect ratios (whole and cropped)."""
    return [b for _, b in demo_data.photographs()[:6]]


def _garden_serving_reference(jpeg, size):
    """The Garden serving module's steps, written out: decode_image of the whole image, the
    0.875 centre slice (float32 side and offsets, truncated), bilinear resize, a truncating
    uint8 cast, then (x - mean) / std."""
    image = tf.io.decode_image(jpeg, channels=3).numpy()
    h, w = image.shape[:2]
    side_f = np.float32(0.875) * np.float32(min(h, w))
    oy, ox, side = int((np.float32(h) - side_f) / 2), int((np.float32(w) - side_f) / 2), int(side_f)
    window = image[oy:oy + side, ox:ox + side]
    resized = tf.image.resize(window, [size, size], method="bilinear").numpy()
    pixels = np.trunc(resized).astype(np.uint8).astype(np.float32)
    return (pixels - MEAN) / STD


def test_garden_serving_export_reproduces_the_garden_serving_preprocessing(models, jpegs, tmp_path):
    model = models["garden"]
    expected_images = np.stack([_garden_serving_reference(b, SIZE) for b in jpegs])
    eval_images = np.stack([layouts.reference_garden_preprocess(b, SIZE) for b in jpegs])
    assert np.abs(expected_images - eval_images).max() > 0.01        # the two paths really differ
    expected = model(expected_images).numpy()
    directory = export.export_saved_model(model, str(tmp_path / "serving" / "1"), SIZE,
                                          preprocessing="garden_serving", warmup=False,
                                          class_names=["a", "b", "c"] * 333 + ["d"])
    assert export.read_metadata(directory)["preprocessing"] == "garden_serving"
    loaded = tf.saved_model.load(directory)
    served = loaded.signatures["serving_default"](image_bytes=tf.constant(jpegs))["logits"].numpy()
    np.testing.assert_allclose(served, expected, atol=1e-5, rtol=0)
    eval_logits = model(eval_images).numpy()
    assert np.abs(served - eval_logits).max() > 10 * np.abs(served - expected).max()
    decoded = tf.io.decode_jpeg(jpegs[0])[None]
    pixels = loaded.signatures["serve_images"](images=decoded)["logits"].numpy()
    np.testing.assert_allclose(pixels, expected[:1], atol=1e-5, rtol=0)


def test_unknown_preprocessing_is_named(models, tmp_path):
    with pytest.raises(ValueError, match="preprocessing must be one of.*garden_serving"):
        export.serving_functions(models["tf1"], SIZE, preprocessing="keras")


def test_tflite_logits_match_the_saved_model_on_real_jpegs(models, jpegs, tmp_path):
    model = models["tf1"]
    directory = export.export_saved_model(model, str(tmp_path / "sm" / "1"), SIZE, warmup=False,
                                          class_names=[str(i) for i in range(1000)])
    loaded = tf.saved_model.load(directory)
    saved = loaded.signatures["serving_default"](image_bytes=tf.constant(jpegs))["logits"].numpy()
    path = tflite.export_tflite(model, str(tmp_path / "model.tflite"), SIZE)
    images = tf.stack([preprocessing.normalize(preprocessing.preprocess_for_eval(b, SIZE, "tf1"))
                       for b in jpegs])
    lite = tflite.run(path, images)
    assert lite.shape == saved.shape == (len(jpegs), 1000)
    assert np.abs(saved).max() > 0.1            # logits of a real size, not all ~0
    np.testing.assert_allclose(lite, saved, atol=1e-4, rtol=0)
