"""Test helper: real photographs (scikit-image's samples) as augmented crops, per class.

Each class is one photograph; its images are random crops (40-90% of the short
side, random position, random horizontal flip), saved as JPEGs. Held-out images are
drawn with another seed, so they are crops the model never saw.

Example:
    >>> write_tree("/tmp/photos/train", per_class=12, seed=0)
    ['astronaut', 'chelsea', 'coffee']
"""

import io
import os

import numpy as np
import skimage.data
from PIL import Image

CLASSES = ("astronaut", "chelsea", "coffee")


def photograph(name):
    image = np.asarray(getattr(skimage.data, name)())
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return np.ascontiguousarray(image[..., :3]).astype(np.uint8)


def crops(name, n, seed, size=96):
    """n random crops of photograph `name`, resized to size x size uint8 RGB."""
    rng = np.random.default_rng([seed, CLASSES.index(name) if name in CLASSES else 99])
    image = photograph(name)
    h, w = image.shape[:2]
    out = []
    for _ in range(n):
        side = int(min(h, w) * rng.uniform(0.4, 0.9))
        y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        crop = Image.fromarray(image[y:y + side, x:x + side]).resize((size, size), Image.BILINEAR)
        crop = np.asarray(crop)
        out.append(crop[:, ::-1] if rng.random() < 0.5 else crop)
    return out


def jpeg(image):
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, "JPEG", quality=92)
    return buf.getvalue()


def write_tree(root, per_class, seed, classes=CLASSES, size=96):
    """root/CLASS/NNN.jpg for each class; returns the sorted class names."""
    for name in classes:
        os.makedirs(os.path.join(root, name), exist_ok=True)
        for i, image in enumerate(crops(name, per_class, seed, size)):
            with open(os.path.join(root, name, f"{i:03d}.jpg"), "wb") as f:
                f.write(jpeg(image))
    return sorted(classes)


def jpeg_dataset(per_class, seed, classes=CLASSES, size=96):
    """(list of JPEG bytes, 0-based labels) in class order."""
    data, labels = [], []
    for label, name in enumerate(sorted(classes)):
        for image in crops(name, per_class, seed, size):
            data.append(jpeg(image))
            labels.append(label)
    return data, np.array(labels, np.int32)
