"""Export options beyond the family's eval path: the Garden's serving preprocessing, TensorFlow Lite."""

import numpy as np
import pytest
import tensorflow as tf

import official_layouts as layouts
from official import applications
from official.data import demo_data
from official.serving import export
from official.data import preprocessing
from official.modeling import normalization
from official.serving import tflite

SMALL = (1, 1, 1, 1)
SIZE = 64
MEAN = np.array([0.485, 0.456, 0.406], np.float32) * 255
STD = np.array([0.229, 0.224, 0.225], np.float32) * 255


@pytest.fixture(scope="module")
def jpegs():
    """Real photographs of several sizes and aspect ratios (whole and cropped)."""
    return [b for _, b in demo_data.photographs()[:6]]


@pytest.fixture(scope="module")
def model(tmp_path_factory, jpegs):
    """The small model (one block per stage) from a TF1-layout checkpoint whose batch-norm
    statistics are measured on the photographs, so the logits depend on the image (random
    statistics give every image nearly the same logits)."""
    prefix = str(tmp_path_factory.mktemp("small") / "model.ckpt-1")
    images = np.stack([layouts.reference_tf1_preprocess(b, SIZE) for b in jpegs])
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(layouts.BLOCKS, 50, SMALL)
        layouts.write_tf1_calibrated(prefix, images, depth=50)
    return applications.ResNetRS50(weights=prefix, block_counts=SMALL, classifier_activation=None,
                                   include_preprocessing=False)


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


def test_garden_serving_export_reproduces_the_garden_serving_preprocessing(model, jpegs, tmp_path):
    expected_images = np.stack([_garden_serving_reference(b, SIZE) for b in jpegs])
    eval_images = np.stack([layouts.reference_garden_preprocess(b, SIZE) for b in jpegs])
    assert np.abs(expected_images - eval_images).max() > 0.01        # the two paths really differ
    ours = np.stack([normalization.normalize(preprocessing.preprocess_for_garden_serving(b, SIZE)) for b in jpegs])
    np.testing.assert_allclose(ours, expected_images, atol=1e-6, rtol=0)
    expected = model(expected_images).numpy()
    directory = export.export_saved_model(model, str(tmp_path / "serving" / "1"), SIZE,
                                          preprocessing="garden_serving", warmup=False)
    assert export.read_metadata(directory)["preprocessing"] == "garden_serving"
    loaded = tf.saved_model.load(directory)
    served = loaded.signatures["serving_default"](image_bytes=tf.constant(jpegs))["logits"].numpy()
    np.testing.assert_allclose(served, expected, atol=1e-5, rtol=0)
    eval_logits = model(eval_images).numpy()
    assert np.abs(served - eval_logits).max() > 10 * np.abs(served - expected).max()
    decoded = tf.io.decode_jpeg(jpegs[0])[None]
    pixels = loaded.signatures["serve_images"](images=decoded)["logits"].numpy()
    np.testing.assert_allclose(pixels, expected[:1], atol=1e-5, rtol=0)


def test_unknown_preprocessing_is_named(model):
    with pytest.raises(ValueError, match="preprocessing must be one of.*garden_serving"):
        export.serving_functions(model, SIZE, preprocessing="keras")


def test_tflite_logits_match_the_saved_model_on_real_jpegs(model, jpegs, tmp_path):
    directory = export.export_saved_model(model, str(tmp_path / "sm" / "1"), SIZE, warmup=False)
    loaded = tf.saved_model.load(directory)
    saved = loaded.signatures["serving_default"](image_bytes=tf.constant(jpegs))["logits"].numpy()
    path = tflite.export_tflite(model, str(tmp_path / "model.tflite"), SIZE)
    images = tf.stack([normalization.normalize(preprocessing.preprocess_for_eval(b, SIZE, "tf1"))
                       for b in jpegs])
    lite = tflite.run(path, images)
    assert lite.shape == saved.shape == (len(jpegs), 1000)
    assert np.abs(saved - saved.mean(0)).max() > 0.1     # the logits depend on the image
    np.testing.assert_allclose(lite, saved, atol=1e-4, rtol=0)
