"""ResNet-RS-350 at 256x256: the recipe of the published `resnetrs350_i256` checkpoint.

Launch (TPU; rerunning the same command resumes):

    python tools/train.py --config=configs/resnetrs350_i256.py --workdir=gs://BUCKET/resnetrs350_i256 \
        --strategy=tpu --tpu=TPU_NAME --config.data.data_dir=gs://BUCKET/imagenet-tfrecords

Expected top-1 on ImageNet validation with the EMA weights:
TF1 family (default): 84.0 (tensorflow/tpu README, §5.1; 256px, crop padding 32).
Garden family (`:garden`): top-1 83.7 (MODEL_GARDEN.md, §5.2).

Values (§4.1, §4.2): depth 350, image size 256 (train = eval), dropout 0.25,
stochastic depth 0.1 per stage, RandAugment 2 layers x magnitude 15 (TF1) / 15 (Garden),
batch 4096, 350 epochs, LR 0.1 x batch/256 with 5 warm-up epochs, momentum 0.9,
label smoothing 0.1, weight decay 4e-5, EMA 0.9999, BN momentum 0. Which official
choice each value follows (schedule, Nesterov, weight-decay variables, classes):
configs/common.py.
"""

from configs import common


def get_config(family=""):
    family = common.family_of(family)
    return common.recipe(depth=350, image_size=256, dropout_rate=0.25, drop_connect_rate=0.1,
                         randaug_magnitude=15 if family == "tf1" else 15, family=family)
