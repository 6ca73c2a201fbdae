"""ResNet-RS-50 at 160x160: the recipe of the published `resnetrs50_i160` checkpoint.

Launch (TPU; rerunning the same command resumes):

    python tools/train.py --config=configs/resnetrs50_i160.py --workdir=gs://BUCKET/resnetrs50_i160 \
        --strategy=tpu --tpu=TPU_NAME --config.data.data_dir=gs://BUCKET/imagenet-tfrecords

Expected top-1 on ImageNet validation with the EMA weights:
TF1 family (default): 78.8 (tensorflow/tpu README, §5.1; 160px, crop padding 32).
Garden family (`:garden`): top-1 79.1 (MODEL_GARDEN.md, §5.2).

Values (§4.1, §4.2): depth 50, image size 160 (train = eval), dropout 0.25,
stochastic depth 0.0 per stage, RandAugment 2 layers x magnitude 10 (TF1) / 10 (Garden),
batch 4096, 350 epochs, LR 0.1 x batch/256 with 5 warm-up epochs, momentum 0.9,
label smoothing 0.1, weight decay 4e-5, EMA 0.9999, BN momentum 0. Which official
choice each value follows (schedule, Nesterov, weight-decay variables, classes):
configs/common.py.
"""

from configs import common


def get_config(family=""):
    family = common.family_of(family)
    return common.recipe(depth=50, image_size=160, dropout_rate=0.25, drop_connect_rate=0.0,
                         randaug_magnitude=10 if family == "tf1" else 10, family=family)
