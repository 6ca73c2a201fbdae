r"""Writes image classification data as ImageNet TFRecords in the official layout.

Shards ``{split}-00000-of-0NNNN`` with the keys of the official converter
(docs/fidelity.md: TFRecords); labels are 1-based (1 + index in the sorted synset / class
list); PNG, CMYK and other non-RGB-JPEG images are re-encoded as RGB JPEG.

ImageNet, as distributed (per-synset tars or folders; flat validation files):
  python tools/make_tfrecords.py --output_dir=/data/imagenet-tfrecords \
      --imagenet_train=/data/ILSVRC2012_img_train \
      --imagenet_validation=/data/ILSVRC2012_img_val \
      --validation_labels=/data/imagenet_2012_validation_synset_labels.txt

Any folder-per-class image tree:
  python tools/make_tfrecords.py --output_dir=/data/flowers \
      --image_dir=/data/flowers/train --split=train --num_shards=16
"""

import sys

from absl import app
from absl import flags
from absl import logging

from official import cli  # the CLIs' shared pieces

_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Where the shards go.")
_IMAGENET_TRAIN = flags.DEFINE_string("imagenet_train", "", "Folder of per-synset tars or folders.")
_IMAGENET_VALIDATION = flags.DEFINE_string("imagenet_validation", "", "Folder of flat validation JPEGs.")
_VALIDATION_LABELS = flags.DEFINE_string(
    "validation_labels", "", "Validation synset per line, in file order.")
_TRAIN_SHARDS = flags.DEFINE_integer("train_shards", 1024, "Training shards (official: 1024).")
_VALIDATION_SHARDS = flags.DEFINE_integer("validation_shards", 128, "Validation shards (official: 128).")
_IMAGE_DIR = flags.DEFINE_string("image_dir", "", "A folder-per-class image tree.")
_SPLIT = flags.DEFINE_string("split", "train", "Split name for --image_dir.")
_NUM_SHARDS = flags.DEFINE_integer("num_shards", 8, "Shards for --image_dir.")
_NUM_WORKERS = flags.DEFINE_integer("num_workers", None, "Parallel writer threads (default: CPU count).")
flags.mark_flag_as_required("output_dir")


def main(argv):
    from official.runtime import workdir  # pylint: disable=g-import-not-at-top  (after the flags: TensorFlow)
    try:
        return _write(argv)
    except workdir.WriteError as e:   # full disk: the message says where and how much
        logging.error("%s", e)
        print(f"error: {e}", file=sys.stderr)
        return 1


def _write(argv):
    del argv
    from official.data import tfrecords  # pylint: disable=g-import-not-at-top
    if not (_IMAGENET_TRAIN.value or _IMAGENET_VALIDATION.value or _IMAGE_DIR.value):
        raise app.UsageError("give --imagenet_train and/or --imagenet_validation, or --image_dir")
    if _IMAGENET_VALIDATION.value and not _VALIDATION_LABELS.value:
        raise app.UsageError("--imagenet_validation needs --validation_labels")
    kw = dict(num_workers=_NUM_WORKERS.value, load=tfrecords.read_file)
    synsets = None  # validation alone: the synsets named in the labels file
    if _IMAGENET_TRAIN.value:
        examples, synsets = tfrecords.imagenet_train_examples(_IMAGENET_TRAIN.value)
        logging.info("ImageNet train: %d images, %d synsets", len(examples), len(synsets))
        tfrecords.write_tfrecords(examples, _OUTPUT_DIR.value, "train", _TRAIN_SHARDS.value, **kw)
    if _IMAGENET_VALIDATION.value:
        val = tfrecords.imagenet_validation_examples(
            _IMAGENET_VALIDATION.value, _VALIDATION_LABELS.value, synsets)
        logging.info("ImageNet validation: %d images", len(val))
        tfrecords.write_tfrecords(val, _OUTPUT_DIR.value, "validation",
                                  _VALIDATION_SHARDS.value, **kw)
    if _IMAGE_DIR.value:
        examples, classes = tfrecords.image_folder_examples(_IMAGE_DIR.value)
        logging.info("%s: %d images, %d classes", _IMAGE_DIR.value, len(examples), len(classes))
        tfrecords.write_tfrecords(examples, _OUTPUT_DIR.value, _SPLIT.value, _NUM_SHARDS.value, **kw)
    return 0


def run():
    """The console script (pyproject.toml [project.scripts])."""
    cli.run_main(__name__, main)


if __name__ == "__main__":
    run()
