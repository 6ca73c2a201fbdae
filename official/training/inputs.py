"""The input of a training run: the demo data, empty-split checks, distributed datasets.

Example (a recipe's data on disk; tests/test_train.py writes some):
    >>> train_ds, eval_ds = make_datasets(config, strategy, seed=0)  # doctest: +SKIP
    >>> images, labels = next(iter(train_ds))  # doctest: +SKIP
"""

import os

from absl import logging
import tensorflow as tf

from official.data import pipeline as pipeline_lib
from official.runtime import distribute


def check_not_empty(config, split):
    """Stops at start-up on a split with no records (rather than hanging or dying later)."""
    if config.data.source != "tfrecord":
        return
    files = pipeline_lib.tfrecord_files(config.data.data_dir, split)    # FileNotFoundError names the dir
    for path in files:
        for _ in tf.data.TFRecordDataset(path).take(1):
            return
    raise ValueError(f"config.data.data_dir={config.data.data_dir!r}: the {len(files)} "
                     f"'{split}' file(s) hold no records (empty dataset)")


def prepare_demo_data(config, workdir):
    """configs/demo.py: write the digits TFRecords into {workdir}/digits_tfrecords if needed.

    Runs only for configs with `demo_data_size` > 0 and an empty data.data_dir; fills
    data.data_dir in `config`.
    """
    size = config.get("demo_data_size", 0)
    if not size or config.data.data_dir:
        return
    from official.data import demo_data  # pylint: disable=g-import-not-at-top
    out_dir = os.path.join(workdir, "digits_tfrecords")
    if not demo_data.exists(out_dir):
        logging.info("writing the demo digits (%dx%d JPEG TFRecords) to %s", size, size, out_dir)
        demo_data.write_digits(out_dir, image_size=size)
    config.data.data_dir = out_dir


def make_datasets(config, strategy, seed, skip_steps=0):
    """Distributed (train, eval) datasets, one input pipeline per worker (sharded inside).

    skip_steps: training steps already done; their batches are read and dropped, so a
    resumed deterministic run sees exactly the batches an uninterrupted one would.
    """
    num_classes = config.model.num_classes

    def train_fn(ctx):
        ds = pipeline_lib.build_dataset(
            config.data, split=config.data.train_split, is_training=True,
            batch_size=ctx.get_per_replica_batch_size(config.train.global_batch_size),
            num_classes=num_classes, input_context=ctx, seed=seed)
        if skip_steps:
            # Each step takes one batch per local replica from this worker's pipeline.
            ds = ds.skip(skip_steps * ctx.num_replicas_in_sync // ctx.num_input_pipelines)
        return ds

    def eval_fn(ctx):
        return pipeline_lib.build_dataset(
            config.data, split=config.data.eval_split, is_training=False,
            batch_size=ctx.get_per_replica_batch_size(config.eval.global_batch_size),
            num_classes=num_classes, input_context=ctx)

    distribute.per_replica_batch_size(config.train.global_batch_size, strategy)
    distribute.per_replica_batch_size(config.eval.global_batch_size, strategy)
    return (strategy.distribute_datasets_from_function(train_fn),
            strategy.distribute_datasets_from_function(eval_fn))
