"""Fine-tuning: a published ResNet-RS checkpoint of either family into N new classes.

From a folder of photos, one class per sub-folder (PHOTOS/cat/*.jpg, PHOTOS/dog/*.png, ...),
in one command, from any directory once installed (`pip install .`):

    resnet-rs-train --config=finetune:tf1 --workdir=/tmp/ft --config.data.image_dir=PHOTOS
    resnet-rs-predict --model=/tmp/ft/export PHOTOS/cat/1.jpg      # ranks PHOTOS' class names

(in a checkout: `python tools/train.py ...`). The number of classes, their names and the
image counts come from the folder; 15% of each class is held out, the same files every run
(`--config.data.validation_fraction=0.2` to change it; PHOTOS/train/ and
PHOTOS/validation/, where both exist, are taken as they are). Files that are no image are
skipped and counted. The run trains, evaluates on the held-out images, prints their top-1,
and exports a SavedModel serving the folder's class names to {workdir}/export.

`:garden` starts from the Model Garden's checkpoint of the same name instead (swish,
its preprocessing). Offline, `--config.init_checkpoint=PATH` takes a local checkpoint of
either official layout (a TF1 `model.ckpt-N`, a Garden `ckpt-N` or
`ema_checkpoints/average_weights-N`, or the folder holding one; the layout is read from
the file and must be the config's family) or one of our runs' workdirs. An empty
`--config.init_checkpoint=` trains from scratch, and says so.

TFRecords (tools/make_tfrecords.py) instead of a folder: `--config.data.data_dir=DIR`
(classes and counts are counted in the records); TFDS: `--config.data.source=tfds
--config.data.tfds_name=NAME` (its labels are used as they are, 0-based). The export
serves the folder names, the TFRecords' synsets, the TFDS label names, or
`--config.export.class_names=a,b,c`.

The published recipe (official/training/recipes.py) with these changes, and why:
* init_checkpoint resnet-rs-50-i160 of the config's family: the backbone only; the
  head is new (N classes, the family's initialiser). Any official name, a local
  checkpoint (its layout read from the file), or one of our runs works; a checkpoint
  of another depth than model.depth is refused before anything is downloaded.
* num_classes 0 and the image counts 0: taken from the data (a folder's class
  folders; counted in TFRecords). label_offset 1 in both families: the TFRecords'
  1-based labels become 0..N-1 (a folder's labels are 0-based already). No background
  column: the Garden's 1001st class exists for its ImageNet labels only.
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
