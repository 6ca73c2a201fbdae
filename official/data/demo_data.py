"""The demo's data: scikit-learn's handwritten digits as ImageNet-format TFRecords, and
scikit-image's sample photographs (`photographs()`) for checks on real images.

`sklearn.datasets.load_digits` ships inside scikit-learn (1797 8x8 grey images, 16
levels, ten classes), so the demo needs no download. Each image is scaled to
0..255, upscaled (bicubic) to `image_size`, made RGB and written through the
project's own writer (official/data/tfrecords.py) as JPEG TFRecords in the official
layout, labels 1..10 (so `data.label_offset=1`, as for ImageNet). The split is a
fixed, stratified 80/20 train/validation split.

Example:
    >>> counts = write_digits("digits", image_size=32)
    >>> counts
    {'train': 1438, 'validation': 359}
"""

import os

import numpy as np
from PIL import Image

from official.data import tfrecords

SPLITS = ("train", "validation")


def digits_arrays(image_size=32, validation_fraction=0.2, seed=0):
    """{split: (uint8 images [N, S, S, 3], 0-based labels [N])}, stratified and fixed."""
    from sklearn import datasets  # pylint: disable=g-import-not-at-top
    digits = datasets.load_digits()
    images = (digits.images * (255.0 / 16.0)).round().astype(np.uint8)   # 0..16 levels
    rng = np.random.default_rng(seed)
    val_index = []
    for label in range(10):
        members = np.flatnonzero(digits.target == label)
        val_index.extend(rng.choice(members, int(round(len(members) * validation_fraction)),
                                    replace=False))
    is_val = np.zeros(len(images), bool)
    is_val[val_index] = True

    def upscale(image):
        big = Image.fromarray(image, "L").resize((image_size, image_size), Image.BICUBIC)
        return np.repeat(np.asarray(big)[..., None], 3, axis=-1)

    out = {}
    for split, mask in (("train", ~is_val), ("validation", is_val)):
        out[split] = (np.stack([upscale(im) for im in images[mask]]), digits.target[mask].astype(np.int64))
    return out


def exists(out_dir):
    """True if `out_dir` already holds both splits."""
    return all(tfrecords_glob(out_dir, split) for split in SPLITS)


def tfrecords_glob(out_dir, split):
    import glob  # pylint: disable=g-import-not-at-top
    return sorted(glob.glob(os.path.join(out_dir, f"{split}-*-of-*")))


def write_digits(out_dir, image_size=32, validation_fraction=0.2, seed=0, num_shards=2):
    """Writes train/validation TFRecords to `out_dir`; returns {split: count}.

    Each split's shards appear together or not at all (official/data/tfrecords.py), and
    `exists` wants both splits, so a failed or killed write is redone whole next time.

    Raises:
        official.runtime.workdir.WriteError: a full disk (or read-only `out_dir`); the
            message names the folder, the free space and about how much is needed.
    """
    counts = {}
    for split, (images, labels) in digits_arrays(image_size, validation_fraction, seed).items():
        examples = [(image, int(label) + 1, f"digit{int(label)}", f"{split}_{i:04d}_{int(label)}.jpg")
                    for i, (image, label) in enumerate(zip(images, labels))]
        tfrecords.write_tfrecords(examples, os.fspath(out_dir), split, num_shards, progress=False)
        counts[split] = len(examples)
    return counts


# Colour and grey photographs that scikit-image ships (no download).
PHOTOGRAPHS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry",
               "camera", "coins", "moon", "brick", "grass", "gravel")


def photographs(names=PHOTOGRAPHS):
    """[(name, JPEG bytes)]: each photograph whole and its top-left and bottom-right 2/3 crops.

    Example:
        >>> len(photographs())
        36
    """
    import io  # pylint: disable=g-import-not-at-top
    import skimage.data  # pylint: disable=g-import-not-at-top

    out = []
    for name in names:
        image = np.asarray(getattr(skimage.data, name)())
        if image.ndim == 2:
            image = np.stack([image] * 3, axis=-1)
        image = np.ascontiguousarray(image[..., :3]).astype(np.uint8)
        h, w = image.shape[:2]
        crops = {"": image, ":tl": image[: 2 * h // 3, : 2 * w // 3], ":br": image[h // 3:, w // 3:]}
        for suffix, crop in crops.items():
            buf = io.BytesIO()
            Image.fromarray(crop).save(buf, "JPEG", quality=95)
            out.append((name + suffix, buf.getvalue()))
    return out
