"""ResNet-RS-101 at 160x160: the recipe of the published `resnetrs101_i160` checkpoint.

    python tools/train.py --config=configs/resnetrs101_i160.py --workdir=gs://BUCKET/resnetrs101_i160 \
        --strategy=tpu --tpu=TPU_NAME --config.data.data_dir=gs://BUCKET/imagenet-tfrecords

(rerunning it resumes; `--config=configs/resnetrs101_i160.py:garden` for the Garden family).
Expected top-1 with the EMA weights: TF1 family 80.3 (tensorflow/tpu README, §5.1; 160px, crop padding 32);
Garden family 80.2 (MODEL_GARDEN.md, §5.2).
This recipe's own values (§4.1, §4.2): dropout 0.25, stochastic depth 0.0 per stage,
RandAugment 2 layers x magnitude 10 (TF1) / 15 (Garden).
The values all recipes share, and which official choice each follows: configs/common.py.
"""

from configs import common


def get_config(family=""):
    family = common.family_of(family)
    return common.recipe(depth=101, image_size=160, dropout_rate=0.25, drop_connect_rate=0.0,
                         randaug_magnitude=10 if family == "tf1" else 15, family=family)
