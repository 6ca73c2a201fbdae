"""ResNet-RS-152 at 192x192: the recipe of the published `resnetrs152_i192` checkpoint.

    python tools/train.py --config=configs/resnetrs152_i192.py --workdir=gs://BUCKET/resnetrs152_i192 \
        --strategy=tpu --tpu=TPU_NAME --config.data.data_dir=gs://BUCKET/imagenet-tfrecords

(rerunning it resumes; `--config=configs/resnetrs152_i192.py:garden` for the Garden family).
Expected top-1 with the EMA weights: TF1 family 82.0 (tensorflow/tpu README, §5.1; 192px, crop padding 32);
Garden family 81.9 (MODEL_GARDEN.md, §5.2).
This recipe's own values (§4.1, §4.2): dropout 0.25, stochastic depth 0.0 per stage,
RandAugment 2 layers x magnitude 15.
The values all recipes share, and which official choice each follows: configs/common.py.
"""

from configs import common


def get_config(family=""):
    family = common.family_of(family)
    return common.recipe(depth=152, image_size=192, dropout_rate=0.25, drop_connect_rate=0.0,
                         randaug_magnitude=15, family=family)
