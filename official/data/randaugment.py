"""RandAugment as the ResNet-RS paper trained with it, in core TensorFlow.

The 16 ops and their level-to-argument table of the TPU code
(``models/official/efficientnet/autoaugment.py``), uint8 in and out, one op
chosen per image per layer, with the Garden's differences available as
``variant="garden"`` (the variants are the families of official/families.py).

Why our own: Keras' ``RandAugment`` and keras-cv's are other algorithms (other
op sets, magnitude scales, one op choice per batch, float output); the
Garden's needs tf-models-official, which pins another TF.

Behaviour of the TPU code that is reproduced on purpose:

* The level is ``M / 10`` and is **not clipped**: M = 15 (nine of the eleven
  recipes) extrapolates every argument by 1.5 (rotate 45 degrees, enhance factor
  2.8, translate 150 px, ...).
* Each selected op is always applied (the TPU code draws a probability per op
  but never uses it). Rotate, ShearX/Y and TranslateX/Y negate their argument
  with probability 1/2.
* Geometric ops read the nearest source pixel through
  ``tf.raw_ops.ImageProjectiveTransformV3`` and fill uncovered pixels with 128;
  Cutout fills with 128 too.
* **Solarize wrap-around**: the threshold int(256 m) is converted to uint8 and
  wraps modulo 256, so at M = 10 the threshold is 0 and Solarize inverts every
  pixel; at M = 15 it is 384 % 256 = 128, an ordinary solarize.
* **Contrast** blends towards ``number_of_pixels / 256`` (the sum of the grey
  histogram divided by 256, clipped to 255), not towards the mean grey.

``variant="garden"``: a 17th, identity op (each layer is a no-op with
probability 1/17), translate constant 10 instead of 100, geometric ops fill by
reflection, Contrast is ``tf.image.adjust_contrast``.

Example:
    >>> image = tf.zeros([160, 160, 3], tf.uint8)
    >>> out = distort_image_with_randaugment(image, num_layers=2, magnitude=15,
    ...                                      seed=[0, 1])
    >>> out.dtype
    tf.uint8
"""

import math

import tensorflow as tf

from official import families
from official.validation import check_choice

MAX_LEVEL = 10.0
FILL_VALUE = 128
# The order of the TPU code's `available_ops` (the index drawn selects from it).
OP_NAMES = (
    "AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize",
    "Color", "Contrast", "Brightness", "Sharpness", "ShearX", "ShearY",
    "TranslateX", "TranslateY", "Cutout", "SolarizeAdd")
TRANSLATE_CONST = {"tf1": 100.0, "garden": 10.0}
CUTOUT_CONST = 40


# ------------------------------------------------------------ level -> arg --
def level_to_arg(op_name, magnitude, translate_const=100.0, cutout_const=CUTOUT_CONST):
    """The unsigned argument an op gets at magnitude M (docs/fidelity.md: RandAugment table; m = M / 10).

    Args:
        op_name: one of OP_NAMES.
        magnitude: M (a Python number; not clipped to 10).
        translate_const: pixels per unit level (100 TPU code, 10 Garden config).
        cutout_const: Cutout half-size per unit level.

    Returns:
        A Python number, or None for ops without an argument.

    Example:
        >>> level_to_arg("Rotate", 15)
        45.0
    """
    m = float(magnitude) / MAX_LEVEL
    table = {
        "AutoContrast": None, "Equalize": None, "Invert": None,
        "Rotate": m * 30.0,
        "Posterize": int(m * 4),
        "Solarize": int(m * 256),
        "Color": m * 1.8 + 0.1, "Contrast": m * 1.8 + 0.1,
        "Brightness": m * 1.8 + 0.1, "Sharpness": m * 1.8 + 0.1,
        "ShearX": m * 0.3, "ShearY": m * 0.3,
        "TranslateX": m * float(translate_const), "TranslateY": m * float(translate_const),
        "Cutout": int(m * cutout_const),
        "SolarizeAdd": int(m * 110),
    }
    if op_name not in table:
        check_choice("RandAugment op", op_name, OP_NAMES)
    return table[op_name]


# ------------------------------------------------------------------ helpers --
def blend(image1, image2, factor):
    """image1 + factor * (image2 - image1) in float32, clipped, truncated to uint8.

    factor > 1 extrapolates (the enhance ops at M >= 6). Within 0 < factor < 1 the
    TPU code skips the clip; the result is then in range anyway.
    """
    factor = float(factor)
    if factor == 0.0:
        return tf.convert_to_tensor(image1)
    if factor == 1.0:
        return tf.convert_to_tensor(image2)
    image1 = tf.cast(image1, tf.float32)
    image2 = tf.cast(image2, tf.float32)
    temp = image1 + factor * (image2 - image1)
    return tf.cast(tf.clip_by_value(temp, 0.0, 255.0), tf.uint8)


def transform(image, matrix, fill_value=FILL_VALUE, fill_mode="CONSTANT"):
    """Nearest-neighbour projective transform of one [H, W, C] uint8 image.

    Output pixel (x, y) reads input (m0 x + m1 y + m2, m3 x + m4 y + m5) rounded
    half away from zero; outside the image it gets ``fill_value``.

    Args:
        image: uint8 [H, W, C].
        matrix: 8 numbers (the last two 0 for affine maps).
        fill_value: value of uncovered pixels (fill_mode "CONSTANT").
        fill_mode: "CONSTANT" (TPU code) or "REFLECT" (Garden).
    """
    matrix = tf.reshape(tf.cast(tf.stack(matrix) if isinstance(matrix, (list, tuple))
                                else matrix, tf.float32), [1, 8])
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=image[tf.newaxis], transforms=matrix,
        output_shape=tf.shape(image)[:2], fill_value=tf.constant(fill_value, tf.float32),
        interpolation="NEAREST", fill_mode=fill_mode)
    return out[0]


# ---------------------------------------------------------------- the ops ----
def autocontrast(image):
    """Per-channel min-max stretch to 0..255; a constant channel is left alone."""
    x = tf.cast(image, tf.float32)
    lo = tf.reduce_min(x, axis=[0, 1])
    hi = tf.reduce_max(x, axis=[0, 1])
    stretch = hi > lo
    scale = tf.where(stretch, 255.0 / tf.where(stretch, hi - lo, 1.0), 1.0)
    offset = tf.where(stretch, -lo * scale, 0.0)
    return tf.cast(tf.clip_by_value(x * scale + offset, 0.0, 255.0), tf.uint8)


def equalize(image):
    """PIL-style per-channel histogram equalisation (the TPU code's LUT).

    step = (pixels - count of the highest occupied bin) // 255; lut[v] =
    (cumsum(hist)[v - 1] + step // 2) // step, lut[0] = 0; step 0 keeps the channel.
    """
    x = tf.cast(image, tf.int32)
    channels = 3
    flat = tf.reshape(tf.transpose(x, [2, 0, 1]), [channels, -1])
    offsets = tf.range(channels)[:, tf.newaxis] * 256
    hist = tf.reshape(tf.math.bincount(flat + offsets, minlength=256 * channels,
                                       maxlength=256 * channels), [channels, 256])
    total = tf.reduce_sum(hist, axis=1)
    # Count in the highest non-empty bin: the TPU code's `nonzero_histo[-1]`.
    top = tf.reduce_max(tf.where(hist > 0, tf.range(256)[tf.newaxis], -1), axis=1)
    last = tf.gather(hist, top, batch_dims=1)
    step = (total - last) // 255
    safe = tf.maximum(step, 1)[:, tf.newaxis]
    lut = (tf.cumsum(hist, axis=1) + safe // 2) // safe
    lut = tf.clip_by_value(tf.concat([tf.zeros([channels, 1], tf.int32), lut[:, :-1]], 1), 0, 255)
    lut = tf.where((step == 0)[:, tf.newaxis], tf.range(256)[tf.newaxis], lut)
    out = tf.gather(lut, flat, batch_dims=1)
    out = tf.transpose(tf.reshape(out, [channels, tf.shape(x)[0], tf.shape(x)[1]]), [1, 2, 0])
    return tf.cast(out, tf.uint8)


def invert(image):
    """255 - x."""
    return 255 - image


def rotate(image, degrees, fill_value=FILL_VALUE, fill_mode="CONSTANT"):
    """Rotation about the image centre; positive turns counter-clockwise on screen.

    Matrix [cos, -sin, x_off, sin, cos, y_off, 0, 0] with the offsets of
    ``angles_to_projective_transforms`` (docs/fidelity.md: RandAugment), computed in float32.
    """
    radians = tf.cast(degrees, tf.float32) * (math.pi / 180.0)
    h = tf.cast(tf.shape(image)[0], tf.float32)
    w = tf.cast(tf.shape(image)[1], tf.float32)
    cos, sin = tf.cos(radians), tf.sin(radians)
    x_off = ((w - 1) - (cos * (w - 1) - sin * (h - 1))) / 2.0
    y_off = ((h - 1) - (sin * (w - 1) + cos * (h - 1))) / 2.0
    return transform(image, [cos, -sin, x_off, sin, cos, y_off, 0.0, 0.0], fill_value, fill_mode)


def posterize(image, bits):
    """Keeps the ``bits`` high bits of every value."""
    shift = tf.cast(8 - bits, image.dtype)
    return tf.bitwise.left_shift(tf.bitwise.right_shift(image, shift), shift)


def solarize(image, threshold):
    """Pixels >= threshold become 255 - x, with the TPU code's uint8 wrap-around.

    The TPU code compares a uint8 image with the Python int int(256 m), which TF
    converts to uint8 modulo 256: 256 (M = 10) becomes 0 -> full inversion, 384
    (M = 15) becomes 128. We reproduce that explicitly.
    """
    threshold = tf.cast(int(threshold) % 256, tf.uint8)
    # 255 - x == x XOR 255 in uint8. The XOR with a 0/255 mask gives the same bytes as
    # tf.where(image < threshold, image, 255 - image) at half the time: TensorFlow's
    # select over a whole image costs ~1 ms per 160x160 image on a 2-core EPYC.
    return tf.bitwise.bitwise_xor(image, tf.cast(image >= threshold, tf.uint8) * 255)


def solarize_add(image, addition, threshold=128):
    """Adds ``addition`` to pixels < threshold, clipped to 255."""
    addition = int(addition)
    if addition >= 0:
        # The same bytes without a select (see solarize): adding min(addition, 255 - x)
        # to the pixels below the threshold is the clipped sum, and cannot wrap.
        delta = tf.minimum(255 - image, tf.cast(min(addition, 255), tf.uint8))
        return image + tf.cast(image < threshold, tf.uint8) * delta
    added = tf.cast(tf.clip_by_value(tf.cast(image, tf.int32) + addition, 0, 255), tf.uint8)
    return tf.where(image < threshold, added, image)


def color(image, factor):
    """Blend between the grey version of the image and the image."""
    grey = tf.image.grayscale_to_rgb(tf.image.rgb_to_grayscale(image))
    return blend(grey, image, factor)


def contrast(image, factor):
    """The TPU code's contrast: blend from a constant of (#pixels / 256) (docs/fidelity.md: RandAugment quirk)."""
    pixels = tf.cast(tf.shape(image)[0] * tf.shape(image)[1], tf.float32)
    mean = tf.clip_by_value(pixels / 256.0, 0.0, 255.0)
    degenerate = tf.fill(tf.shape(image), tf.cast(mean, tf.uint8))
    return blend(degenerate, image, factor)


def contrast_garden(image, factor):
    """The Garden's contrast: ``tf.image.adjust_contrast`` (per-channel mean)."""
    return tf.image.adjust_contrast(image, factor)


def brightness(image, factor):
    """Blend from black: x * factor, clipped."""
    return blend(tf.zeros_like(image), image, factor)


def sharpness(image, factor):
    """Blend from a 3x3 [[1,1,1],[1,5,1],[1,1,1]]/13 smoothing, border kept."""
    x = tf.cast(image, tf.float32)[tf.newaxis]
    kernel = tf.constant([[1, 1, 1], [1, 5, 1], [1, 1, 1]], tf.float32) / 13.0
    kernel = tf.tile(kernel[:, :, tf.newaxis, tf.newaxis], [1, 1, 3, 1])
    smooth = tf.nn.depthwise_conv2d(x, kernel, [1, 1, 1, 1], padding="VALID")
    smooth = tf.cast(tf.clip_by_value(smooth[0], 0.0, 255.0), tf.uint8)
    # Interior pixels from the smoothing, the 1-pixel border from the original. Put
    # together by concatenation: the same bytes as a select with a padded mask, in half
    # the time (see solarize).
    middle = tf.concat([image[1:-1, :1], smooth, image[1:-1, -1:]], axis=1)
    degenerate = tf.concat([image[:1], middle, image[-1:]], axis=0)
    return blend(degenerate, image, factor)


def shear_x(image, level, fill_value=FILL_VALUE, fill_mode="CONSTANT"):
    """Output (x, y) reads input (x + level * y, y)."""
    level = tf.cast(level, tf.float32)
    return transform(image, [1.0, level, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0], fill_value, fill_mode)


def shear_y(image, level, fill_value=FILL_VALUE, fill_mode="CONSTANT"):
    """Output (x, y) reads input (x, level * x + y)."""
    level = tf.cast(level, tf.float32)
    return transform(image, [1.0, 0.0, 0.0, level, 1.0, 0.0, 0.0, 0.0], fill_value, fill_mode)


def _shift(image, pixels, axis, fill_value):
    """What the nearest-neighbour transform gives for a whole-pixel translation along
    `axis` (0 rows, 1 columns) with a constant fill: a slice and a pad."""
    n = tf.shape(image)[axis]
    p = tf.clip_by_value(tf.cast(pixels, tf.int32), -n, n)
    begin, size, pad = [0, 0, 0], [-1, -1, -1], [[0, 0], [0, 0], [0, 0]]
    begin[axis], size[axis] = tf.maximum(p, 0), n - tf.abs(p)
    pad[axis] = [tf.maximum(-p, 0), tf.maximum(p, 0)]
    out = tf.pad(tf.slice(image, tf.stack(begin), tf.stack(size)),
                 tf.stack([tf.stack(q) for q in pad]), constant_values=tf.cast(fill_value, image.dtype))
    out.set_shape(image.shape)
    return out


def _translate(image, pixels, axis, fill_value, fill_mode):
    pixels = tf.cast(pixels, tf.float32)
    matrix = ([1.0, 0.0, pixels, 0.0, 1.0, 0.0, 0.0, 0.0] if axis == 1
              else [1.0, 0.0, 0.0, 0.0, 1.0, pixels, 0.0, 0.0])
    general = lambda: transform(image, matrix, fill_value, fill_mode)  # noqa: E731
    if fill_mode != "CONSTANT":
        return general()
    # Whole pixels (every integer magnitude of both codes) read exact source pixels: the
    # same bytes without the transform kernel (~1.3 against 0.5 ms per 160x160 image).
    return tf.cond(tf.equal(tf.round(pixels), pixels),
                   lambda: _shift(image, pixels, axis, fill_value), general)


def translate_x(image, pixels, fill_value=FILL_VALUE, fill_mode="CONSTANT"):
    """Output (x, y) reads input (x + pixels, y): the picture moves left by ``pixels``."""
    return _translate(image, pixels, 1, fill_value, fill_mode)


def translate_y(image, pixels, fill_value=FILL_VALUE, fill_mode="CONSTANT"):
    """Output (x, y) reads input (x, y + pixels): the picture moves up by ``pixels``."""
    return _translate(image, pixels, 0, fill_value, fill_mode)


def cutout(image, pad_size, center, fill_value=FILL_VALUE):
    """Grey square rows [cy - pad, cy + pad) x cols [cx - pad, cx + pad), clipped.

    Args:
        image: uint8 [H, W, 3].
        pad_size: half side int(40 m).
        center: int32 (cy, cx), drawn uniformly in [0, H) x [0, W) by the policy.
        fill_value: 128 in both official codes.
    """
    h, w = tf.shape(image)[0], tf.shape(image)[1]
    cy, cx = center[0], center[1]
    rows = tf.range(h)
    cols = tf.range(w)
    in_rows = (rows >= cy - pad_size) & (rows < cy + pad_size)
    in_cols = (cols >= cx - pad_size) & (cols < cx + pad_size)
    mask = in_rows[:, tf.newaxis, tf.newaxis] & in_cols[tf.newaxis, :, tf.newaxis]
    return tf.where(mask, tf.cast(fill_value, image.dtype), image)


# --------------------------------------------------------------- the policy --
# What each variant does differently (module docstring): geometric fill, Contrast, the identity op.
_VARIANT_OPS = {
    "tf1": dict(fill_mode="CONSTANT", contrast=contrast, identity=False),
    "garden": dict(fill_mode="REFLECT", contrast=contrast_garden, identity=True),
}


def _check_variant(variant):
    """The variant's options; ValueError naming the choices."""
    families.get(variant, "RandAugment variant")
    return _VARIANT_OPS[variant]


def _branches(image, magnitude, sign, center, variant):
    """Zero-argument callables, one per op in OP_NAMES order (+ identity for Garden)."""
    options = _check_variant(variant)
    fill_mode = options["fill_mode"]
    arg = {n: level_to_arg(n, magnitude, TRANSLATE_CONST[variant]) for n in OP_NAMES}
    contrast_fn = options["contrast"]
    fns = [
        lambda: autocontrast(image),
        lambda: equalize(image),
        lambda: invert(image),
        lambda: rotate(image, sign * arg["Rotate"], fill_mode=fill_mode),
        lambda: posterize(image, arg["Posterize"]),
        lambda: solarize(image, arg["Solarize"]),
        lambda: color(image, arg["Color"]),
        lambda: contrast_fn(image, arg["Contrast"]),
        lambda: brightness(image, arg["Brightness"]),
        lambda: sharpness(image, arg["Sharpness"]),
        lambda: shear_x(image, sign * arg["ShearX"], fill_mode=fill_mode),
        lambda: shear_y(image, sign * arg["ShearY"], fill_mode=fill_mode),
        lambda: translate_x(image, sign * arg["TranslateX"], fill_mode=fill_mode),
        lambda: translate_y(image, sign * arg["TranslateY"], fill_mode=fill_mode),
        lambda: cutout(image, arg["Cutout"], center),
        lambda: solarize_add(image, arg["SolarizeAdd"]),
    ]
    if options["identity"]:
        fns.append(lambda: tf.identity(image))
    return fns


def apply_op(image, op_name, magnitude, *, negate=False, center=(0, 0), variant="tf1"):
    """Applies one named op at magnitude M (for tests and inspection).

    Args:
        image: uint8 [H, W, 3].
        op_name: one of OP_NAMES.
        magnitude: M (0..10 nominal, larger values extrapolate).
        negate: use the negative argument (signed ops only).
        center: Cutout centre (cy, cx).
        variant: "tf1" or "garden".

    Example:
        >>> image = tf.fill([8, 8, 3], tf.constant(200, tf.uint8))
        >>> apply_op(image, "Solarize", 10)[0, 0].numpy()   # 255 - 200: the threshold wraps to 0
        array([55, 55, 55], dtype=uint8)
    """
    _check_variant(variant)
    image = tf.convert_to_tensor(image, tf.uint8)
    sign = -1.0 if negate else 1.0
    fns = _branches(image, magnitude, tf.constant(sign), tf.constant(center, tf.int32), variant)
    return fns[OP_NAMES.index(op_name)]()


def distort_image_with_randaugment(image, num_layers, magnitude, seed=None, variant="tf1"):
    """The RandAugment policy: ``num_layers`` ops, each drawn per image.

    Each layer draws an op uniformly (16 ops; the Garden variant 17 with
    identity), a random sign for the signed ops and a Cutout centre, and runs only
    the selected op (``tf.switch_case``).

    Args:
        image: uint8 [H, W, 3].
        num_layers: number of ops applied in sequence (2 in every recipe).
        magnitude: M; a Python number, 10 or 15 in the recipes, not clipped.
        seed: optional int [2] for stateless randomness; None draws one.
        variant: "tf1" (TPU code) or "garden".

    Returns:
        uint8 [H, W, 3].

    Example:
        >>> image = tf.fill([8, 8, 3], tf.constant(200, tf.uint8))
        >>> distort_image_with_randaugment(image, 2, 10, seed=[4, 2]).dtype
        tf.uint8
    """
    options = _check_variant(variant)
    image = tf.convert_to_tensor(image)
    if image.dtype != tf.uint8:
        raise TypeError(f"RandAugment takes uint8 images, got {image.dtype.name}")
    if seed is None:
        seed = tf.random.uniform([2], maxval=2**31 - 1, dtype=tf.int32)
    num_ops = len(OP_NAMES) + (1 if options["identity"] else 0)
    # One draw for everything: per layer [op, sign, centre y, centre x].
    u = tf.random.stateless_uniform([num_layers, 4], seed=seed)
    hw = tf.cast(tf.shape(image)[:2], tf.float32)
    for layer in range(num_layers):
        op_index = tf.minimum(tf.cast(u[layer, 0] * num_ops, tf.int32), num_ops - 1)
        # TPU code: should_flip = floor(u + 0.5); keep the sign when u >= 0.5.
        sign = tf.where(u[layer, 1] >= 0.5, 1.0, -1.0)
        center = tf.minimum(tf.cast(u[layer, 2:] * hw, tf.int32), tf.cast(hw, tf.int32) - 1)
        shape = image.shape
        image = tf.switch_case(op_index, _branches(image, magnitude, sign, center, variant))
        image.set_shape(shape)
    return image
