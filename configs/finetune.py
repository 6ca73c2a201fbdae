"""Fine-tuning: a published ResNet-RS checkpoint of either family into N new classes.

    python tools/make_tfrecords.py --image_dir=photos/train --split=train --num_shards=2 \\
        --output_dir=/tmp/photos_tfrecords
    python tools/make_tfrecords.py --image_dir=photos/validation --split=validation --num_shards=1 \\
        --output_dir=/tmp/photos_tfrecords
    python tools/train.py --config=configs/finetune.py:tf1 --workdir=/tmp/finetune \\
        --config.data.data_dir=/tmp/photos_tfrecords --config.model.num_classes=3 \\
        --config.data.num_train_images=120 --config.data.num_eval_images=30

`:garden` starts from the Model Garden's checkpoint of the same name instead (swish,
its preprocessing). A TFDS dataset instead of TFRecords: `--config.data.source=tfds
--config.data.tfds_name=NAME` (its labels are used as they are, 0-based). The export
in {workdir}/export serves the new class names: the folder names (written into the
TFRecords by tools/make_tfrecords.py), the TFDS label names, or
`--config.export.class_names=a,b,c`.

The published recipe (official/training/recipes.py) with these changes, and why:
* init_checkpoint resnet-rs-50-i160 of the config's family (format = family): the
  backbone only; the head is new (N classes, the family's initialiser). Any official
  name, a path, or one of our runs (init_checkpoint_format=native) works; a checkpoint
  of another depth than model.depth is refused before anything is downloaded.
* num_classes = N, label_offset 1 in both families: the TFRecords' 1-based labels
  become 0..N-1. No background column: the Garden's 1001st class exists for its
  ImageNet labels only.
* the whole network trains (nothing frozen) at a tenth of the recipe's LR
  (0.01 per 256 images, cosine, 1 warm-up epoch): the pretrained features move a
  little, the new head learns; full fine-tuning beats a frozen backbone on datasets
  unlike ImageNet and costs the same per step here.
* 10 epochs, batch 32: small datasets; scale epochs with the dataset.
* EMA of the weights and BN statistics kept, with bn_momentum 0 as the recipe (the EMA
  is the running average of the statistics), decay 0.99 instead of 0.9999: its horizon
  (~100 steps) must be short against a short run. The averages start from the loaded
  weights (the trainer resets them after loading).
* RandAugment off, dropout 0.25, stochastic depth 0: pretrained features and short
  runs; the random-resized crop and flip remain.
"""

from official.training import recipes

INIT_CHECKPOINT = "resnet-rs-50-i160"


def get_config(family=""):
    family = recipes.family_of(family)
    config = recipes.recipe(depth=50, image_size=160, dropout_rate=0.25, drop_connect_rate=0.0,
                           randaug_magnitude=0, family=family)
    config.init_checkpoint = INIT_CHECKPOINT
    config.model.num_classes = 0              # 0: from the data (or --config.model.num_classes=N)
    config.data.update(dict(
        label_offset=1,
        shuffle_buffer=4096,
        num_train_images=0,                   # 0: counted in the data
        num_eval_images=0,
    ))
    config.train.update(dict(
        global_batch_size=32,
        epochs=10.0,
        warmup_epochs=1.0,
        steps_per_loop=50,
        checkpoint_every_steps=100,
        eval_every_steps=0,
        keep_checkpoints=2,
    ))
    config.optimizer.base_lr_per_256 = 0.01
    config.ema.decay = 0.99
    config.eval.global_batch_size = 50
    config.export.class_names = ""            # "": from the data (folder or TFDS label names)
    return config
