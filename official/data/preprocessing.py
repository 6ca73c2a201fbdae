"""Image preprocessing for training, evaluation and serving.

Two families, as the two official codes do it (official/families.py):

* ``"tf1"`` (tensorflow/tpu, the published checkpoints): Inception crop from
  ``sample_distorted_bounding_box`` decoded with ``decode_and_crop_jpeg``,
  **TF1 legacy bicubic** resize (``half_pixel_centers=False``), then flip, then
  RandAugment on uint8. Eval: centre crop of side ``int(S / (S + P) * min(h, w))``
  with ``P = crop_padding`` (32 in the 2021 code that produced the published
  accuracies), legacy bicubic.
* ``"garden"`` (Model Garden): same sampler with ``min_object_covered=0.08``,
  flip *before* a TF2 bilinear resize. Eval: 0.875 centre crop, bilinear.

Every function returns float32 in the 0..255 range (bicubic may overshoot it);
:func:`official.modeling.normalization.normalize` is applied by the caller (the data pipeline, or the exported
serving function), so the export and the input pipeline share one implementation.

Example:
    >>> tf.io.write_file("cat.jpg", tf.io.encode_jpeg(tf.fill([90, 120, 3], tf.constant(200, tf.uint8))))
    >>> image = preprocess_for_eval(tf.io.read_file("cat.jpg"), 64)
    >>> image.shape, image.dtype
    (TensorShape([64, 64, 3]), tf.float32)
    >>> image = preprocess_for_train(tf.io.read_file("cat.jpg"), 64, randaug_magnitude=10, seed=[1, 2])
    >>> image.shape, float(tf.reduce_min(image)) >= 0.0    # RandAugment clips to 0..255
    (TensorShape([64, 64, 3]), True)
"""

import tensorflow as tf

from official import families
from official.data import randaugment

# The Feb-2021 constant that produced the published accuracies (docs/fidelity.md).
CROP_PADDING = families.TF1_CROP_PADDING
FAMILIES = families.NAMES


def resize_bicubic_legacy(image, size):
    """TF1 ``resize_bicubic`` (align_corners=False, half_pixel_centers=False).

    This is what the TPU code uses; ``tf.image.resize(..., "bicubic")`` is
    a different kernel (half-pixel centres, Keys a=-0.5) and gives other pixels.

    Args:
        image: [H, W, C] tensor (uint8 or float).
        size: int or (height, width).

    Returns:
        float32 [size, size, C]; values may overshoot 0..255.
    """
    size = _pair(size)
    out = tf.raw_ops.ResizeBicubic(
        images=image[tf.newaxis], size=size, align_corners=False,
        half_pixel_centers=False)
    return out[0]


def resize_bilinear(image, size):
    """The Garden's resize: TF2 ``tf.image.resize`` bilinear, no antialias."""
    return tf.image.resize(image, _pair(size), method="bilinear")


def _pair(size):
    if isinstance(size, int):
        return [size, size]
    return list(size)


def _check_family(family):
    """The :class:`official.families.Family` called ``family``; ValueError otherwise."""
    return families.get(family, "preprocessing family")


# ------------------------------------------------------------------ decoding --
def decode_and_crop(image_bytes, window_fn):
    """Decodes an encoded image and crops it, cropping *while decoding* for JPEG.

    The official code crops with ``decode_and_crop_jpeg``, which can differ by a
    few grey levels from decode-then-slice (docs/fidelity.md #15), so JPEGs take that path.
    Other formats (PNG, GIF, BMP; e.g. TFDS datasets other than ImageNet) are
    decoded in full, converted to RGB, then sliced. Grayscale and RGBA inputs come
    out as RGB.

    Args:
        image_bytes: scalar tf.string.
        window_fn: ``fn(shape) -> (window, use_full)`` where ``shape`` is the int32
          [height, width, channels] of the encoded image (channels as stored: 1 for
          a grayscale JPEG) and ``window`` is [offset_y, offset_x, height, width].

    Returns:
        uint8 [h, w, 3].
    """

    def from_jpeg():
        shape = tf.image.extract_jpeg_shape(image_bytes)
        window = window_fn(shape)
        return tf.image.decode_and_crop_jpeg(image_bytes, window, channels=3)

    def from_other():
        image = tf.io.decode_image(image_bytes, channels=3, expand_animations=False)
        window = window_fn(tf.shape(image))
        return tf.slice(image, [window[0], window[1], 0], [window[2], window[3], 3])

    image = tf.cond(tf.io.is_jpeg(image_bytes), from_jpeg, from_other)
    image.set_shape([None, None, 3])
    return image


# ------------------------------------------------------------------ eval -----
def center_crop_window(shape, image_size, family="tf1", crop_padding=CROP_PADDING):
    """[offset_y, offset_x, size, size] of the eval centre crop.

    Args:
        shape: int [height, width, ...] of the full image.
        image_size: output side S.
        family: "tf1" (side int(S/(S+P) * min), offset ((dim - side) + 1) // 2) or
          "garden" (side int(0.875 * min), offset int((dim - 0.875 * min) / 2)).
        crop_padding: P for "tf1".

    Returns:
        int32 [4].
    """
    fam = _check_family(family)
    height = tf.cast(shape[0], tf.int32)
    width = tf.cast(shape[1], tf.int32)
    short = tf.cast(tf.minimum(height, width), tf.float32)
    if fam.eval_crop_fraction is None:
        # Python double ratio, multiplied in float32 then truncated, as the TPU code.
        side = tf.cast((image_size / (image_size + crop_padding)) * short, tf.int32)
        off_y = ((height - side) + 1) // 2
        off_x = ((width - side) + 1) // 2
    else:
        side_f = fam.eval_crop_fraction * short
        side = tf.cast(side_f, tf.int32)
        off_y = tf.cast((tf.cast(height, tf.float32) - side_f) / 2, tf.int32)
        off_x = tf.cast((tf.cast(width, tf.float32) - side_f) / 2, tf.int32)
    return tf.stack([off_y, off_x, side, side])


def _resize(image, image_size, family):
    resize = {"bicubic_legacy": resize_bicubic_legacy, "bilinear": resize_bilinear}
    return resize[_check_family(family).resize](image, image_size)


def preprocess_for_eval(image_bytes, image_size, family="tf1", crop_padding=CROP_PADDING):
    """Eval / serving preprocessing of one encoded image.

    Args:
        image_bytes: scalar tf.string holding a JPEG (cropped while decoding) or
          any format ``tf.io.decode_image`` reads.
        image_size: output side S.
        family: "tf1" (centre crop S/(S+P), legacy bicubic) or "garden" (0.875,
          bilinear).
        crop_padding: P of the tf1 family (32 for the published accuracies; the
          current tensorflow/tpu code uses round(S / 7)).

    Returns:
        float32 [S, S, 3], 0..255 scale (NOT normalised; bicubic may overshoot).

    Example:
        >>> jpeg_bytes = tf.io.encode_jpeg(tf.zeros([300, 400, 3], tf.uint8))
        >>> center_crop_window([300, 400], 224).numpy().tolist()   # side int(224 / (224 + 32) * 300)
        [19, 69, 262, 262]
        >>> preprocess_for_eval(jpeg_bytes, 224).shape
        TensorShape([224, 224, 3])
    """
    _check_family(family)
    crop = decode_and_crop(
        image_bytes, lambda s: center_crop_window(s, image_size, family, crop_padding))
    image = _resize(crop, image_size, family)
    image.set_shape([image_size, image_size, 3])
    return image


def preprocess_image_for_eval(image, image_size, family="tf1", crop_padding=CROP_PADDING):
    """:func:`preprocess_for_eval` on an already decoded uint8 [H, W, 3] image.

    The same window and resize, with a slice instead of decode-and-crop.

    Example:
        >>> preprocess_image_for_eval(tf.zeros([300, 400, 3], tf.uint8), 160).shape
        TensorShape([160, 160, 3])
    """
    _check_family(family)
    image = tf.convert_to_tensor(image)
    window = center_crop_window(tf.shape(image), image_size, family, crop_padding)
    crop = tf.slice(image, [window[0], window[1], 0], [window[2], window[3], -1])
    out = _resize(crop, image_size, family)
    out.set_shape([image_size, image_size, 3])
    return out


def preprocess_image_for_garden_serving(image, image_size):
    """The Model Garden's *serving* SavedModel preprocessing of a decoded uint8 [H, W, 3] image.

    Its eval path (`preprocess_for_eval(..., "garden")`) crops while decoding; its
    serving export instead takes the whole decoded image, slices the same 0.875 centre
    window, resizes bilinearly and casts the result to uint8, truncating (not rounding),
    before normalising. The two differ by up to a few hundredths in the logits.

    Returns:
      float32 [S, S, 3], 0..255 integers (NOT normalised).

    Example:
      >>> preprocess_image_for_garden_serving(tf.zeros([300, 400, 3], tf.uint8), 160).shape
      TensorShape([160, 160, 3])
    """
    image = tf.convert_to_tensor(image)
    window = center_crop_window(tf.shape(image), image_size, "garden")
    crop = tf.slice(image, [window[0], window[1], 0], [window[2], window[3], -1])
    resized = tf.image.resize(crop, [image_size, image_size], method="bilinear")
    out = tf.cast(tf.cast(resized, tf.uint8), tf.float32)
    out.set_shape([image_size, image_size, 3])
    return out


def preprocess_for_garden_serving(image_bytes, image_size):
    """`preprocess_image_for_garden_serving` after `tf.io.decode_image` of the whole image (any format)."""
    image = tf.io.decode_image(image_bytes, channels=3, expand_animations=False)
    return preprocess_image_for_garden_serving(image, image_size)


# ------------------------------------------------------------------ train ----
# The Inception crop's parameters (both families; min_object_covered differs).
AREA_RANGE = (0.08, 1.0)
ASPECT_RATIO_RANGE = (3.0 / 4.0, 4.0 / 3.0)
MAX_ATTEMPTS = 10


def random_crop_window(shape, seed, family="tf1", image_size=None,
                       crop_padding=CROP_PADDING):
    """Inception-style random crop window with the official fallback.

    Samples ``sample_distorted_bounding_box`` on the whole image (bbox [0,0,1,1]),
    area fraction in [0.08, 1], aspect ratio w/h in [3/4, 4/3], 10 attempts. When
    sampling fails the sampler returns the whole image, and the official codes
    then use the eval centre crop instead.

    The TPU code detects failure by comparing (h, w, c) of the crop with the
    *encoded* image's shape, so for a grayscale JPEG (c = 1) the fallback never
    triggers; we keep that quirk.

    Args:
        shape: int [height, width, channels] of the encoded image.
        seed: int [2] seed of the stateless sampler.
        family: "tf1" or "garden" (min_object_covered 0.1 vs 0.08, fallback crop).
        image_size: S, for the tf1 fallback crop S/(S+P).
        crop_padding: P of the tf1 fallback.

    Returns:
        int32 [4] window [offset_y, offset_x, height, width].
    """
    fam = _check_family(family)
    shape = tf.cast(shape, tf.int32)
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        shape, bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]), seed=seed,
        min_object_covered=fam.min_object_covered,
        aspect_ratio_range=ASPECT_RATIO_RANGE, area_range=AREA_RANGE,
        max_attempts=MAX_ATTEMPTS, use_image_if_no_bounding_boxes=True)
    window = tf.stack([begin[0], begin[1], size[0], size[1]])
    if fam.crop_fallback_checks_channels:
        # `_at_least_x_are_equal(original_shape, cropped_shape, 3)`: the crop always
        # has 3 channels, the encoded JPEG may have 1.
        failed = tf.reduce_all(tf.equal(shape[:2], size[:2])) & tf.equal(shape[2], 3)
    else:
        failed = tf.reduce_all(tf.equal(shape[:2], size[:2]))
    fallback = center_crop_window(shape, image_size or 224, family, crop_padding)
    return tf.where(failed, fallback, window)


def _seeds(seed, n):
    if seed is None:
        seed = tf.random.uniform([2], maxval=2**31 - 1, dtype=tf.int32)
    return tf.unstack(tf.random.experimental.stateless_split(seed, n))


def preprocess_for_train(image_bytes, image_size, *, family="tf1",
                         randaug_num_layers=2, randaug_magnitude=0,
                         randaug_variant=None, crop_padding=CROP_PADDING, seed=None):
    """Training preprocessing of one encoded image, as the family's official code does it.

    tf1:    crop -> legacy bicubic resize -> flip -> RandAugment (clip, uint8).
    garden: crop -> flip -> bilinear resize -> RandAugment (clip, uint8).

    Args:
        image_bytes: scalar tf.string (JPEG cropped while decoding; other formats
          decoded in full and sliced).
        image_size: output side S.
        family: "tf1" or "garden".
        randaug_num_layers: ops per image.
        randaug_magnitude: M on the 0..10 scale (10 and 15 in the recipes; values
          above 10 extrapolate); 0 disables RandAugment.
        randaug_variant: "tf1" or "garden" (defaults to ``family``).
        crop_padding: P of the tf1 fallback centre crop.
        seed: optional int [2] for stateless randomness (reproducible output).

    Returns:
        float32 [S, S, 3] on the 0..255 scale, NOT normalised.

    Example:
        >>> jpeg = tf.io.encode_jpeg(tf.zeros([60, 80, 3], tf.uint8))
        >>> x = preprocess_for_train(jpeg, 32, randaug_magnitude=10, seed=[1, 2])
        >>> x.shape, x.dtype
        (TensorShape([32, 32, 3]), tf.float32)
        >>> y = preprocess_for_train(jpeg, 32, randaug_magnitude=10, seed=[1, 2])
        >>> bool(tf.reduce_all(x == y))     # the same seed: the same crop, flip and RandAugment ops
        True
    """
    fam = _check_family(family)
    crop_seed, flip_seed, aug_seed = _seeds(seed, 3)
    crop = decode_and_crop(
        image_bytes,
        lambda s: random_crop_window(s, crop_seed, family, image_size, crop_padding))
    if fam.flip_before_resize:
        image = tf.image.stateless_random_flip_left_right(crop, flip_seed)
        image = _resize(image, image_size, fam)
    else:
        image = _resize(crop, image_size, fam)
        image = tf.image.stateless_random_flip_left_right(image, flip_seed)
    image.set_shape([image_size, image_size, 3])
    if randaug_magnitude and randaug_num_layers:
        # As the TPU code: clip, truncate to uint8, augment, back to float.
        image = tf.cast(tf.clip_by_value(image, 0.0, 255.0), tf.uint8)
        image = randaugment.distort_image_with_randaugment(
            image, randaug_num_layers, randaug_magnitude, seed=aug_seed,
            variant=randaug_variant or family)
        image = tf.cast(image, tf.float32)
    return image
