"""The eleven published ResNet-RS checkpoints, one table.

Each entry holds what belongs to one released (depth, resolution) pair: the recipe
values that differ between checkpoints, the top-1 each family published for it,
where its weights are, and the eval preprocessing the weights go with. The configs
(configs/resnetrs*.py), the checkpoint downloads (official/checkpoints/readers.py), the
benchmark's speed-accuracy curve (tools/benchmark.py) and the exports read it here.

Where the sources stand: the TF1 top-1 are those of the ``tensorflow/tpu`` README
(unchanged since March 2021), measured at the training resolution with the crop
S/(S+32); the Garden top-1 are those of the Model Garden's MODEL_GARDEN.md (its
swish, 1001-class models). The Garden released no RS-420. The recipe values are
those of the official per-checkpoint configs; the two families agree on all of
them except RandAugment's magnitude for RS-101 at 160 (TF1 10, Garden 15).

Example:
    >>> entry = get("resnet-rs-152-i256")
    >>> entry.depth, entry.image_size, entry.top1["tf1"]
    (152, 256, 83.0)
    >>> entry.url("garden")
    'https://storage.googleapis.com/tf_model_garden/vision/resnet-rs/resnet-rs-152-i256.tar.gz'
"""

import dataclasses

from official import families


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """One published checkpoint.

    Attributes:
        depth: 50 ... 420.
        image_size: the side S it was trained at; its published top-1 was measured at S too.
        dropout_rate: before the head.
        drop_connect_rate: stochastic depth's rate of the last stage (per stage rule).
        randaug_magnitude: {family: M} (2 RandAugment layers in every recipe).
        top1: {family: published top-1 %}; a family that released no such checkpoint
            is absent.
    """

    depth: int
    image_size: int
    dropout_rate: float
    drop_connect_rate: float
    randaug_magnitude: dict
    top1: dict

    @property
    def name(self):
        """The release's name, e.g. "resnet-rs-50-i160" (also the tarball's)."""
        return f"resnet-rs-{self.depth}-i{self.image_size}"

    @property
    def config_name(self):
        """The recipe file's stem under configs/, e.g. "resnetrs50_i160"."""
        return f"resnetrs{self.depth}_i{self.image_size}"

    def url(self, family):
        """The download URL of this checkpoint in ``family``; ValueError if it was never published.

        Example:
            >>> get("resnet-rs-50-i160").url("tf1")
            'https://storage.googleapis.com/cloud-tpu-checkpoints/resnet-rs/resnet-rs-50-i160.tar.gz'
        """
        fam = families.get(family)
        if fam.name not in self.top1:
            raise ValueError(f"the {fam.title} published no {self.name} checkpoint; published in: "
                             f"{', '.join(self.top1)}")
        return fam.url_pattern.format(name=self.name)

    def recipe(self, family):
        """The keyword arguments of ``official.training.recipes.recipe`` for this checkpoint in ``family``."""
        fam = families.get(family)
        return dict(depth=self.depth, image_size=self.image_size, dropout_rate=self.dropout_rate,
                    drop_connect_rate=self.drop_connect_rate,
                    randaug_magnitude=self.randaug_magnitude[fam.name], family=fam.name)

    def eval_preprocessing(self, family):
        """How the published top-1 was measured: {image_size, preprocessing, crop_padding}.

        ``crop_padding`` is the TF1 crop's P; the Garden's crop is a fixed fraction
        and ignores it (it is recorded so every export names one).

        Example:
            >>> get("resnet-rs-101-i192").eval_preprocessing("tf1")
            {'image_size': 192, 'preprocessing': 'tf1', 'crop_padding': 32}
        """
        fam = families.get(family)
        return dict(image_size=self.image_size, preprocessing=fam.name,
                    crop_padding=fam.crop_padding or families.TF1_CROP_PADDING)


def _entry(depth, size, dropout, drop_connect, magnitude, tf1, garden=None, garden_magnitude=None):
    top1 = {"tf1": tf1} if garden is None else {"tf1": tf1, "garden": garden}
    return Checkpoint(depth, size, dropout, drop_connect,
                      {"tf1": magnitude, "garden": garden_magnitude or magnitude}, top1)


# depth, size, dropout, stochastic depth, RandAugment M, TF1 top-1, Garden top-1.
CHECKPOINTS = {c.name: c for c in [
    _entry(50, 160, 0.25, 0.0, 10, 78.8, 79.1),
    _entry(101, 160, 0.25, 0.0, 10, 80.3, 80.2, garden_magnitude=15),
    _entry(101, 192, 0.25, 0.0, 15, 81.2, 81.3),
    _entry(152, 192, 0.25, 0.0, 15, 82.0, 81.9),
    _entry(152, 224, 0.25, 0.0, 15, 82.2, 82.5),
    _entry(152, 256, 0.25, 0.0, 15, 83.0, 83.1),
    _entry(200, 256, 0.25, 0.1, 15, 83.4, 83.5),
    _entry(270, 256, 0.25, 0.1, 15, 83.8, 83.6),
    _entry(350, 256, 0.25, 0.1, 15, 84.0, 83.7),
    _entry(350, 320, 0.4, 0.1, 15, 84.2, 84.2),
    _entry(420, 320, 0.4, 0.1, 15, 84.4),
]}
NAMES = tuple(CHECKPOINTS)


def get(name):
    """The :class:`Checkpoint` called ``name``; ValueError listing the names otherwise.

    Example:
        >>> get("resnet-rs-420-i320").top1
        {'tf1': 84.4}
    """
    if name not in CHECKPOINTS:
        raise ValueError(f"unknown official checkpoint name {name!r}; known names: {', '.join(NAMES)}")
    return CHECKPOINTS[name]


def of_depth(depth):
    """The published checkpoints of one depth, smallest resolution first (may be empty)."""
    return [c for c in CHECKPOINTS.values() if c.depth == depth]


def describe(name):
    """The docstring of a recipe file (configs/resnetrs*.py): what it trains, what to expect.

    Example:
        >>> print(describe("resnet-rs-420-i320").splitlines()[0])
        ResNet-RS-420 at 320x320: the recipe of the published resnet-rs-420-i320 checkpoint.
    """
    c = get(name)
    expected = "; ".join(f"{families.get(f).title} {t}" for f, t in c.top1.items())
    magnitudes = sorted(set(c.randaug_magnitude.values()))
    magnitude = " / ".join(f"{c.randaug_magnitude[f]} ({f})" for f in families.NAMES) \
        if len(magnitudes) > 1 else str(magnitudes[0])
    config = f"configs/{c.config_name}.py"
    return (f"ResNet-RS-{c.depth} at {c.image_size}x{c.image_size}: the recipe of the published {c.name} "
            f"checkpoint.\n\n"
            f"    python tools/train.py --config={config} --workdir=DIR "
            f"--config.data.data_dir=IMAGENET_TFRECORDS\n\n"
            f"(rerunning it resumes; --config={config}:garden for the Garden family).\n"
            f"Published top-1 with the EMA weights at {c.image_size}px: {expected}.\n"
            f"Its own values: dropout {c.dropout_rate}, stochastic depth {c.drop_connect_rate} per stage, "
            f"RandAugment 2 layers x magnitude {magnitude}.\n"
            f"The values all recipes share: official/training/recipes.py; this table: official/published.py.\n")
