"""Preprocessing: crops, resizes, normalisation, formats (docs/fidelity.md: training preprocessing, input)."""

import numpy as np
import pytest
import skimage.data
import tensorflow as tf

from conftest import encode
from official.data import preprocessing as pp
from official.modeling import normalization


_encode = encode


PHOTO = skimage.data.coffee()[:375, :500]  # 375 x 500 real photo (ImageNet-like size)
JPEG = _encode(PHOTO, quality=90)
PNG = _encode(PHOTO, "PNG")


def test_normalize_constants():
  x = tf.constant([[[0.0, 0.0, 0.0], [255.0, 255.0, 255.0]]])
  got = normalization.normalize(x).numpy()
  mean = np.array([0.485, 0.456, 0.406])
  std = np.array([0.229, 0.224, 0.225])
  np.testing.assert_allclose(got[0, 0], -mean / std, rtol=1e-5)
  np.testing.assert_allclose(got[0, 1], (1 - mean) / std, rtol=1e-5)
  assert normalization.normalize(x, tf.bfloat16).dtype == tf.bfloat16


def test_center_crop_window_by_hand():
  # tf1, S=160, P=32: side int(160/192 * 375) = 312, offsets ((375-312)+1)//2 = 32,
  # ((500-312)+1)//2 = 94.
  np.testing.assert_array_equal(pp.center_crop_window([375, 500], 160), [32, 94, 312, 312])
  # current tensorflow/tpu padding at 160 is 23: int(160/183 * 375) = 327
  np.testing.assert_array_equal(pp.center_crop_window([375, 500], 160, crop_padding=23),
                                [24, 87, 327, 327])
  # garden: 0.875 * 375 = 328.125 -> 328; offsets int(46.875/2) = 23, int(171.875/2) = 85
  np.testing.assert_array_equal(pp.center_crop_window([375, 500], 160, "garden"),
                                [23, 85, 328, 328])


def test_eval_uses_legacy_bicubic_and_decode_and_crop():
  """The tf1 eval path is decode_and_crop_jpeg + resize_bicubic(half_pixel_centers=False)."""
  got = pp.preprocess_for_eval(tf.constant(JPEG), 160).numpy()
  crop = tf.image.decode_and_crop_jpeg(JPEG, [32, 94, 312, 312], channels=3)
  legacy = tf.compat.v1.image.resize_bicubic(crop[None], [160, 160], align_corners=False,
                                             half_pixel_centers=False)[0].numpy()
  np.testing.assert_array_equal(got, legacy)
  tf2_bicubic = tf.image.resize(crop, [160, 160], method="bicubic").numpy()
  assert np.abs(got - tf2_bicubic).max() > 5  # a different kernel: not what we use
  assert got.dtype == np.float32 and got.shape == (160, 160, 3)


def test_legacy_bicubic_differs_from_tf2_bicubic():
  # sharp edges (skimage's checkerboard) show the kernels' difference best
  x = tf.constant(np.repeat(skimage.data.checkerboard()[:, :, None], 3, -1))
  legacy = pp.resize_bicubic_legacy(x, 150).numpy()
  tf2 = tf.image.resize(x, [150, 150], method="bicubic").numpy()
  assert np.abs(legacy - tf2).max() > 20


def test_garden_eval_is_bilinear_0875():
  got = pp.preprocess_for_eval(tf.constant(JPEG), 160, family="garden").numpy()
  crop = tf.image.decode_and_crop_jpeg(JPEG, [23, 85, 328, 328], channels=3)
  np.testing.assert_array_equal(got, tf.image.resize(crop, [160, 160]).numpy())


@pytest.mark.parametrize("family", ["tf1", "garden"])
def test_png_bytes_equal_decoded_image_path(family):
  """PNG (lossless) through preprocess_for_eval == the decoded array through
  preprocess_image_for_eval: the export's two signatures agree."""
  a = pp.preprocess_for_eval(tf.constant(PNG), 192, family).numpy()
  b = pp.preprocess_image_for_eval(tf.constant(PHOTO), 192, family).numpy()
  np.testing.assert_array_equal(a, b)


def test_grayscale_and_cmyk_become_rgb():
  grey = _encode(PHOTO, mode="L", quality=95)
  out = pp.preprocess_for_eval(tf.constant(grey), 64).numpy()
  assert out.shape == (64, 64, 3)
  np.testing.assert_array_equal(out[..., 0], out[..., 1])
  cmyk = _encode(PHOTO, mode="CMYK", quality=95)
  rgb = pp.preprocess_for_eval(tf.constant(_encode(PHOTO, quality=95)), 64).numpy()
  out = pp.preprocess_for_eval(tf.constant(cmyk), 64).numpy()
  assert np.abs(out - rgb).mean() < 4  # decoded to RGB, not garbage


def _sample_windows(shape, n, family="tf1"):
  seeds = tf.data.Dataset.random(seed=7).batch(2).take(n)
  ds = seeds.map(lambda s: pp.random_crop_window(tf.constant(shape), s, family, 160))
  return np.stack(list(ds.batch(n).as_numpy_iterator())[0])


@pytest.mark.parametrize("family", ["tf1", "garden"])
def test_crop_sampler_statistics(family):
  h, w = 375, 500
  win = _sample_windows([h, w, 3], 2000, family)
  area = win[:, 2] * win[:, 3] / (h * w)
  ratio = win[:, 3] / win[:, 2]
  fallback = pp.center_crop_window([h, w], 160, family).numpy()
  is_fallback = np.all(win == fallback, axis=1)
  sampled = ~is_fallback
  assert is_fallback.mean() < 0.05
  # Area fraction in [0.08, 1], aspect ratio w/h in [3/4, 4/3] (integer rounding slack).
  assert area[sampled].min() >= 0.08 - 0.005 and area.max() <= 1.0
  assert ratio[sampled].min() >= 0.75 * 0.98 and ratio[sampled].max() <= 4 / 3 * 1.02
  # ...and they span those ranges.
  assert area[sampled].min() < 0.12 and area[sampled].max() > 0.85
  assert ratio[sampled].min() < 0.8 and ratio[sampled].max() > 1.25
  assert np.all(win[:, 0] + win[:, 2] <= h) and np.all(win[:, 1] + win[:, 3] <= w)


def test_crop_falls_back_to_center_crop():
  """On a 20 x 400 sliver no crop of ratio <= 4/3 covers 8% of the area: every
  sample falls back to the eval centre crop (docs/fidelity.md: training preprocessing)."""
  win = _sample_windows([20, 400, 3], 50)
  np.testing.assert_array_equal(win, np.tile(pp.center_crop_window([20, 400], 160), [50, 1]))


@pytest.mark.parametrize("family,magnitude", [("tf1", 0), ("tf1", 15), ("garden", 10)])
def test_train_shapes_ranges_and_determinism(family, magnitude):
  fn = lambda b, s: pp.preprocess_for_train(b, 160, family=family, randaug_magnitude=magnitude,
                                            seed=s)
  eager = fn(tf.constant(JPEG), tf.constant([3, 4])).numpy()
  ds = tf.data.Dataset.from_tensors((JPEG, [3, 4])).map(fn)
  mapped = ds.get_single_element().numpy()
  np.testing.assert_array_equal(eager, mapped)
  assert eager.shape == (160, 160, 3) and eager.dtype == np.float32
  if magnitude:
    # RandAugment works on uint8: integral values in 0..255
    assert eager.min() >= 0 and eager.max() <= 255
    np.testing.assert_array_equal(eager, np.round(eager))
  other = fn(tf.constant(JPEG), tf.constant([3, 5])).numpy()
  assert not np.array_equal(eager, other)


def test_train_png_input():
  out = pp.preprocess_for_train(tf.constant(PNG), 96, randaug_magnitude=10, seed=[1, 1])
  assert out.shape == (96, 96, 3)


def test_unknown_family():
  with pytest.raises(ValueError, match="family"):
    pp.preprocess_for_eval(tf.constant(JPEG), 160, family="timm")


def test_normalize_is_the_exact_float32_division():
  # The training input (a tf.data map) and eager give numpy's float32 (x - mean) / std
  # bit for bit, whatever shape the mean and std are spelled out to. (A graph with static
  # shapes may still have the division folded into a reciprocal multiply by TensorFlow's
  # optimiser: the last bit of ~1/4 of the values.)
  x = np.random.RandomState(0).uniform(0, 255, (64, 48, 3)).astype(np.float32)
  want = (x - np.float32(normalization.MEAN_RGB)) / np.float32(normalization.STDDEV_RGB)
  via_data = next(iter(tf.data.Dataset.from_tensors(x).map(normalization.normalize))).numpy()
  for got in (normalization.normalize(x).numpy(), via_data):
    np.testing.assert_array_equal(got, want)
  u8 = x.astype(np.uint8)     # what the training input normalises after RandAugment
  np.testing.assert_array_equal(
      next(iter(tf.data.Dataset.from_tensors(u8).map(normalization.normalize))).numpy(),
      (u8.astype(np.float32) - np.float32(normalization.MEAN_RGB)) / np.float32(normalization.STDDEV_RGB))
