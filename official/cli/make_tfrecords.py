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

import os
import sys

from absl import app
from absl import flags
from absl import logging

# `python tools/make_tfrecords.py` from the repository root: make `official` importable.

FLAGS = flags.FLAGS
flags.DEFINE_string("output_dir", None, "Where the shards go.")
flags.DEFINE_string("imagenet_train", "", "Folder of per-synset tars or folders.")
flags.DEFINE_string("imagenet_validation", "", "Folder of flat validation JPEGs.")
flags.DEFINE_string("validation_labels", "", "Validation synset per line, in file order.")
flags.DEFINE_integer("train_shards", 1024, "Training shards (official: 1024).")
flags.DEFINE_integer("validation_shards", 128, "Validation shards (official: 128).")
flags.DEFINE_string("image_dir", "", "A folder-per-class image tree.")
flags.DEFINE_string("split", "train", "Split name for --image_dir.")
flags.DEFINE_integer("num_shards", 8, "Shards for --image_dir.")
flags.DEFINE_integer("num_workers", None, "Parallel writer threads (default: CPU count).")
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
    if not (FLAGS.imagenet_train or FLAGS.imagenet_validation or FLAGS.image_dir):
        raise app.UsageError("give --imagenet_train and/or --imagenet_validation, or --image_dir")
    if FLAGS.imagenet_validation and not FLAGS.validation_labels:
        raise app.UsageError("--imagenet_validation needs --validation_labels")
    kw = dict(num_workers=FLAGS.num_workers, load=tfrecords.read_file)
    synsets = None  # validation alone: the synsets named in the labels file
    if FLAGS.imagenet_train:
        examples, synsets = tfrecords.imagenet_train_examples(FLAGS.imagenet_train)
        logging.info("ImageNet train: %d images, %d synsets", len(examples), len(synsets))
        tfrecords.write_tfrecords(examples, FLAGS.output_dir, "train", FLAGS.train_shards, **kw)
    if FLAGS.imagenet_validation:
        val = tfrecords.imagenet_validation_examples(
            FLAGS.imagenet_validation, FLAGS.validation_labels, synsets)
        logging.info("ImageNet validation: %d images", len(val))
        tfrecords.write_tfrecords(val, FLAGS.output_dir, "validation",
                                  FLAGS.validation_shards, **kw)
    if FLAGS.image_dir:
        examples, classes = tfrecords.image_folder_examples(FLAGS.image_dir)
        logging.info("%s: %d images, %d classes", FLAGS.image_dir, len(examples), len(classes))
        tfrecords.write_tfrecords(examples, FLAGS.output_dir, FLAGS.split, FLAGS.num_shards, **kw)
    return 0


def run():
    """The console script (pyproject.toml [project.scripts])."""
    from official import cli  # pylint: disable=g-import-not-at-top
    cli.run_main(__name__, main)


if __name__ == "__main__":
    run()
