"""The 1000 ImageNet-1k classes in sorted-synset order (label 0 = n01440764, tench).

Every model of the project, whichever official family its weights come from,
speaks these 1000 classes (the Garden's background column is dropped on load,
docs/fidelity.md #4). The data file `imagenet_classes.txt` holds `synset<TAB>names`
per line. The synset list is tensorflow-datasets' `imagenet2012/labels.txt`; the
human-readable names are the widely used ImageNet class-name list that
tensorflow-datasets ships in `datasets/siscore/labels.py` (same order).

Example:
    >>> names()[388]
    'giant panda, panda, panda bear, coon bear, Ailuropoda melanoleuca'
    >>> synsets()[0]
    'n01440764'
"""

import functools
import os

from official import families

_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "imagenet_classes.txt")


@functools.lru_cache(maxsize=None)
def _rows():
    with open(_PATH, encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t", 1) for line in f if line.strip()]
    if len(rows) != families.IMAGENET_CLASSES or any(len(r) != 2 for r in rows):
        raise ValueError(f"{_PATH} must hold {families.IMAGENET_CLASSES} 'synset<TAB>name' lines")
    return tuple(tuple(r) for r in rows)


def synsets():
    """The 1000 WordNet ids, sorted (the label order of both official families)."""
    return [s for s, _ in _rows()]


def names():
    """The 1000 class names, comma-separated synonyms, in label order."""
    return [n for _, n in _rows()]


def short_names():
    """The first synonym of each class, e.g. 'giant panda'."""
    return [n.split(",")[0] for n in names()]
