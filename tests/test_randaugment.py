"""Known-answer tests of the paper's RandAugment (docs/fidelity.md: RandAugment).

Every op is checked against an independent NumPy computation of the table's
formula, at M = 10 and M = 15, eagerly and inside ``tf.data.Dataset.map``.
"""

import math

import numpy as np
import pytest
import skimage.data
import tensorflow as tf

from official.data import randaugment as ra


def _photo():
  """120x170 crop of a real photo, contrast reduced to 40..193 (non-trivial stretch)."""
  im = skimage.data.astronaut()[::4, ::3][:120, :170].astype(np.float32)
  return (im * 0.6 + 40).astype(np.uint8)


IMAGE = _photo()
H, W = IMAGE.shape[:2]


# ------------------------------------------------------- NumPy references ----
def np_blend(degenerate, image, factor):
  d = degenerate.astype(np.float32)
  x = image.astype(np.float32)
  return np.clip(d + np.float32(factor) * (x - d), 0, 255).astype(np.uint8)


def np_autocontrast(x):
  out = np.empty_like(x)
  for c in range(3):
    ch = x[..., c].astype(np.float32)
    lo, hi = ch.min(), ch.max()
    scale = np.float32(255.0) / (hi - lo)
    out[..., c] = np.clip(ch * scale - lo * scale, 0, 255).astype(np.uint8)
  return out


def np_equalize(x):
  out = np.empty_like(x)
  for c in range(3):
    ch = x[..., c].astype(np.int64)
    hist = np.bincount(ch.ravel(), minlength=256)
    nonzero = hist[hist > 0]
    step = (nonzero.sum() - nonzero[-1]) // 255
    if step == 0:
      out[..., c] = ch
      continue
    lut = (np.cumsum(hist) + step // 2) // step
    lut = np.clip(np.concatenate([[0], lut[:-1]]), 0, 255)
    out[..., c] = lut[ch]
  return out


def np_grey(x):
  w = np.array([0.2989, 0.587, 0.114], np.float32)
  g = ((x.astype(np.float32) * np.float32(1 / 255)) @ w) * np.float32(255.5)
  return np.repeat(g.astype(np.uint8)[..., None], 3, -1)


def np_sharpness_degenerate(x):
  k = np.array([[1, 1, 1], [1, 5, 1], [1, 1, 1]], np.float32) / 13
  f = x.astype(np.float32)
  out = x.copy()
  acc = np.zeros((H - 2, W - 2, 3), np.float32)
  for dy in range(3):
    for dx in range(3):
      acc += k[dy, dx] * f[dy:dy + H - 2, dx:dx + W - 2]
  out[1:-1, 1:-1] = np.clip(acc, 0, 255).astype(np.uint8)
  return out


def np_transform_candidates(x, m, fill=128):
  """All results the nearest-neighbour transform may give (ties: either neighbour)."""
  ys, xs = np.mgrid[0:H, 0:W].astype(np.float64)
  sx = m[0] * xs + m[1] * ys + m[2]
  sy = m[3] * xs + m[4] * ys + m[5]

  def options(v):
    r = np.sign(v) * np.floor(np.abs(v) + 0.5)  # std::round: half away from zero
    tie = np.abs(np.abs(v - np.floor(v)) - 0.5) < 1e-3
    alt = np.where(tie, np.where(r > v, r - 1, r + 1), r)
    return r.astype(int), alt.astype(int)

  outs = []
  for cx in options(sx):
    for cy in options(sy):
      inside = (cx >= 0) & (cx < W) & (cy >= 0) & (cy < H)
      out = np.full_like(x, fill)
      out[inside] = x[cy[inside], cx[inside]]
      outs.append(out)
  return outs


def np_rotate_matrix(degrees):
  a = math.radians(degrees)
  c, s = math.cos(a), math.sin(a)
  x_off = ((W - 1) - (c * (W - 1) - s * (H - 1))) / 2
  y_off = ((H - 1) - (s * (W - 1) + c * (H - 1))) / 2
  return [c, -s, x_off, s, c, y_off]


CUTOUT_CENTER = (100, 30)


def expected(op, magnitude, negate):
  """(list of acceptable outputs, tolerance) computed from the table of docs/fidelity.md (RandAugment)."""
  m = magnitude / 10
  sign = -1 if negate else 1
  x = IMAGE
  enhance = m * 1.8 + 0.1
  if op == "AutoContrast":
    return [np_autocontrast(x)], 0
  if op == "Equalize":
    return [np_equalize(x)], 0
  if op == "Invert":
    return [255 - x], 0
  if op == "Rotate":
    return np_transform_candidates(x, np_rotate_matrix(sign * 30 * m)), 0
  if op == "Posterize":
    bits = {10: 4, 15: 6}[magnitude]
    return [(x >> (8 - bits)) << (8 - bits)], 0
  if op == "Solarize":
    # The wrap-around quirk: threshold 256 -> 0 (invert all), 384 -> 128.
    if magnitude == 10:
      return [255 - x], 0
    return [np.where(x < 128, x, 255 - x)], 0
  if op == "Color":
    # ±1: the grey conversion's float rounding may land on the other side of
    # an integer when summed in another order.
    return [np_blend(np_grey(x), x, enhance)], 2
  if op == "Contrast":
    mean = min(H * W / 256, 255)  # the pixel-count quirk, not the mean grey
    return [np_blend(np.full_like(x, int(mean)), x, enhance)], 0
  if op == "Brightness":
    return [np_blend(np.zeros_like(x), x, enhance)], 0
  if op == "Sharpness":
    # up to 2 grey levels: oneDNN's depthwise convolution rounds differently (docs/fidelity.md: RandAugment)
    return [np_blend(np_sharpness_degenerate(x), x, enhance)], 2
  if op == "ShearX":
    return np_transform_candidates(x, [1, sign * 0.3 * m, 0, 0, 1, 0]), 0
  if op == "ShearY":
    return np_transform_candidates(x, [1, 0, 0, sign * 0.3 * m, 1, 0]), 0
  if op == "TranslateX":
    return np_transform_candidates(x, [1, 0, sign * 100 * m, 0, 1, 0]), 0
  if op == "TranslateY":
    return np_transform_candidates(x, [1, 0, 0, 0, 1, sign * 100 * m]), 0
  if op == "Cutout":
    pad = int(40 * m)
    cy, cx = CUTOUT_CENTER
    out = x.copy()
    out[max(0, cy - pad):cy + pad, max(0, cx - pad):cx + pad] = 128
    return [out], 0
  if op == "SolarizeAdd":
    add = int(110 * m)
    return [np.where(x < 128, np.minimum(x.astype(int) + add, 255), x).astype(np.uint8)], 0
  raise AssertionError(op)


def _run(op, magnitude, negate, mode, variant="tf1"):
  fn = lambda im: ra.apply_op(im, op, magnitude, negate=negate, center=CUTOUT_CENTER,
                              variant=variant)
  if mode == "eager":
    return fn(tf.constant(IMAGE)).numpy()
  ds = tf.data.Dataset.from_tensors(IMAGE).map(fn)
  return ds.get_single_element().numpy()


@pytest.mark.parametrize("mode", ["eager", "dataset"])
@pytest.mark.parametrize("magnitude", [10, 15])
@pytest.mark.parametrize("op", ra.OP_NAMES)
def test_op_known_answer(op, magnitude, mode):
  negate = magnitude == 15  # both signs of the signed ops get covered
  got = _run(op, magnitude, negate, mode)
  assert got.dtype == np.uint8 and got.shape == IMAGE.shape
  candidates, tol = expected(op, magnitude, negate)
  diffs = [np.abs(got.astype(int) - c.astype(int)) for c in candidates]
  best = np.min(np.stack(diffs), axis=0)
  assert best.max() <= tol, f"{op} M={magnitude}: max diff {best.max()}, {np.sum(best > tol)} px"
  if tol:
    # A tolerance is for rounding only: nearly all pixels must be exact.
    assert np.mean(best == 0) > 0.9
  assert not np.array_equal(got, IMAGE), f"{op} M={magnitude} left the image unchanged"


def test_level_to_arg_table():
  """The table of docs/fidelity.md (RandAugment), M = 10 and M = 15 (extrapolated, not clipped)."""
  want = {
      "Rotate": (30, 45), "Posterize": (4, 6), "Solarize": (256, 384),
      "Color": (1.9, 2.8), "Contrast": (1.9, 2.8), "Brightness": (1.9, 2.8),
      "Sharpness": (1.9, 2.8), "ShearX": (0.3, 0.45), "ShearY": (0.3, 0.45),
      "TranslateX": (100, 150), "TranslateY": (100, 150), "Cutout": (40, 60),
      "SolarizeAdd": (110, 165)}
  for op, (a10, a15) in want.items():
    assert ra.level_to_arg(op, 10) == pytest.approx(a10), op
    assert ra.level_to_arg(op, 15) == pytest.approx(a15), op
  assert ra.level_to_arg("TranslateX", 10, translate_const=10) == 10


def test_rotate_direction_and_fill():
  """Positive degrees turn the picture counter-clockwise on screen; fill is 128."""
  im = np.zeros((21, 21, 3), np.uint8)
  im[10, 15:] = 255  # a bar to the right of the centre
  out = ra.rotate(tf.constant(im), 90.0).numpy()
  assert out[:6, 10].min() == 255 and out[10, 15:].max() == 0  # bar now points up
  out = ra.rotate(tf.constant(im), 45.0).numpy()
  assert out[0, 0, 0] == 128  # corner uncovered -> grey


def test_garden_variant_differences():
  x = tf.constant(IMAGE)
  # translate constant 10 instead of 100, reflect fill instead of 128
  got = ra.apply_op(x, "TranslateX", 10, variant="garden").numpy()
  np.testing.assert_array_equal(got[:, :-10], IMAGE[:, 10:])
  np.testing.assert_array_equal(got[:, -10:], IMAGE[:, -1:-11:-1])
  # contrast is tf.image.adjust_contrast (per-channel mean), not the pixel-count quirk
  got = ra.apply_op(x, "Contrast", 10, variant="garden").numpy()
  np.testing.assert_array_equal(got, tf.image.adjust_contrast(x, 1.9).numpy())
  assert not np.array_equal(got, ra.apply_op(x, "Contrast", 10).numpy())


def _classify(out, references):
  """Which of the non-random ops produced ``out`` (None: a random/signed op)."""
  for op, ref in references.items():
    if np.array_equal(out, ref):
      return op
  return None


def test_policy_chooses_ops_per_image_uniformly():
  """One layer, 320 seeds in one tf.data pipeline: each image draws its own op."""
  n = 320
  seeds = tf.data.Dataset.random(seed=3).batch(2).take(n)
  ds = seeds.map(lambda s: ra.distort_image_with_randaugment(
      tf.constant(IMAGE), num_layers=1, magnitude=15, seed=s))
  outs = [o.numpy() for o in ds]
  references = {op: ra.apply_op(IMAGE, op, 15).numpy() for op in (
      "AutoContrast", "Equalize", "Invert", "Posterize", "Solarize", "Color",
      "Contrast", "Brightness", "Sharpness", "SolarizeAdd")}
  ops = [_classify(o, references) for o in outs]
  # 10 of the 16 ops are deterministic at a fixed magnitude: ~10/16 of draws.
  frac = np.mean([o is not None for o in ops])
  assert 0.5 < frac < 0.75
  assert len({o for o in ops if o}) == 10  # all of them were drawn
  assert all(o.dtype == np.uint8 for o in outs)
  assert not any(np.array_equal(o, IMAGE) for o in outs)  # tf1: always applied


def test_garden_policy_has_identity():
  seeds = tf.data.Dataset.random(seed=5).batch(2).take(340)
  ds = seeds.map(lambda s: ra.distort_image_with_randaugment(
      tf.constant(IMAGE), 1, 10, seed=s, variant="garden"))
  frac = np.mean([np.array_equal(o.numpy(), IMAGE) for o in ds])
  assert 0.02 < frac < 0.12  # 1/17 = 0.059


def test_policy_seeded_reproducible_and_two_layers():
  a = ra.distort_image_with_randaugment(IMAGE, 2, 10, seed=[1, 2]).numpy()
  b = ra.distort_image_with_randaugment(IMAGE, 2, 10, seed=[1, 2]).numpy()
  np.testing.assert_array_equal(a, b)
  others = [ra.distort_image_with_randaugment(IMAGE, 2, 10, seed=[1, k]).numpy()
            for k in range(3, 8)]
  assert sum(np.array_equal(a, o) for o in others) < 3


def test_bad_input_errors():
  with pytest.raises(TypeError, match="uint8"):
    ra.distort_image_with_randaugment(tf.zeros([8, 8, 3]), 2, 10)
  with pytest.raises(ValueError, match="variant"):
    ra.distort_image_with_randaugment(IMAGE, 2, 10, variant="keras")
  with pytest.raises(ValueError, match="RandAugment op must be one of"):
    ra.level_to_arg("Blur", 10)


@pytest.mark.parametrize("threshold", [0, 1, 128, 255, 256, 384])
def test_solarize_every_value_and_threshold(threshold):
  # Every uint8 value, against the TPU code's rule written in numpy: values at or above
  # the threshold (taken modulo 256, the uint8 wrap-around) become 255 - x.
  x = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, -1)
  want = np.where(x < threshold % 256, x, 255 - x)
  np.testing.assert_array_equal(ra.solarize(tf.constant(x), threshold).numpy(), want)


@pytest.mark.parametrize("addition", [0, 1, 110, 165, 255, 300, -40])
@pytest.mark.parametrize("threshold", [0, 128, 255])
def test_solarize_add_every_value(addition, threshold):
  # Below the threshold: x + addition clipped to 0..255 (in int32, as the TPU code
  # computes it); at or above it: unchanged. Every uint8 value.
  x = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, -1)
  added = np.clip(x.astype(np.int32) + addition, 0, 255).astype(np.uint8)
  want = np.where(x < threshold, added, x)
  np.testing.assert_array_equal(ra.solarize_add(tf.constant(x), addition, threshold).numpy(), want)


@pytest.mark.parametrize("op, axis", [(ra.translate_x, 1), (ra.translate_y, 0)])
def test_translate_is_the_nearest_neighbour_transform(op, axis):
  # Against TensorFlow's projective-transform kernel (what the TPU code calls) with the
  # TPU code's matrix: every whole-pixel shift, past both edges, and some fractional ones.
  x = tf.constant(IMAGE)
  for pixels in list(range(-W - 3, W + 4, 7)) + [-1, 0, 1, 0.5, -0.5, 10.4, -10.6]:
    m = [1.0, 0.0, pixels, 0.0, 1.0, 0.0] if axis == 1 else [1.0, 0.0, 0.0, 0.0, 1.0, pixels]
    want = tf.raw_ops.ImageProjectiveTransformV3(
        images=x[tf.newaxis], transforms=tf.constant([m + [0.0, 0.0]], tf.float32),
        output_shape=tf.shape(x)[:2], fill_value=128.0, interpolation="NEAREST",
        fill_mode="CONSTANT")[0]
    np.testing.assert_array_equal(op(x, tf.constant(float(pixels))).numpy(), want.numpy(),
                                  err_msg=f"shift {pixels}")
