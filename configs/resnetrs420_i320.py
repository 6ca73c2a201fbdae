"""ResNet-RS-420 at 320x320: the recipe of the published `resnetrs420_i320` checkpoint.

Launch (TPU; rerunning the same command resumes):

    python tools/train.py --config=configs/resnetrs420_i320.py --workdir=gs://BUCKET/resnetrs420_i320 \
        --strategy=tpu --tpu=TPU_NAME --config.data.data_dir=gs://BUCKET/imagenet-tfrecords

Expected top-1 on ImageNet validation with the EMA weights:
TF1 family (default): 84.4 (tensorflow/tpu README, §5.1; 320px, crop padding 32).
Garden family (`:garden`): the Garden published no RS-420 checkpoint (§4.2).

Values (§4.1, §4.2): depth 420, image size 320 (train = eval), dropout 0.4,
stochastic depth 0.1 per stage, RandAugment 2 layers x magnitude 15 (TF1) / 15 (Garden),
batch 4096, 350 epochs, LR 0.1 x batch/256 with 5 warm-up epochs, momentum 0.9,
label smoothing 0.1, weight decay 4e-5, EMA 0.9999, BN momentum 0. Which official
choice each value follows (schedule, Nesterov, weight-decay variables, classes):
configs/common.py.
"""

from configs import common


def get_config(family=""):
    family = common.family_of(family)
    return common.recipe(depth=420, image_size=320, dropout_rate=0.4, drop_connect_rate=0.1,
                         randaug_magnitude=15 if family == "tf1" else 15, family=family)
