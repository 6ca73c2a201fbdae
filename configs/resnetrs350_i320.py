"""ResNet-RS-350 at 320x320: the recipe of the published `resnetrs350_i320` checkpoint.

    python tools/train.py --config=configs/resnetrs350_i320.py --workdir=gs://BUCKET/resnetrs350_i320 \
        --strategy=tpu --tpu=TPU_NAME --config.data.data_dir=gs://BUCKET/imagenet-tfrecords

(rerunning it resumes; `--config=configs/resnetrs350_i320.py:garden` for the Garden family).
Expected top-1 with the EMA weights: TF1 family 84.2 (tensorflow/tpu README, §5.1; 320px, crop padding 32);
Garden family 84.2 (MODEL_GARDEN.md, §5.2).
This recipe's own values (§4.1, §4.2): dropout 0.4, stochastic depth 0.1 per stage,
RandAugment 2 layers x magnitude 15.
The values all recipes share, and which official choice each follows: configs/common.py.
"""

from configs import common


def get_config(family=""):
    family = common.family_of(family)
    return common.recipe(depth=350, image_size=320, dropout_rate=0.4, drop_connect_rate=0.1,
                         randaug_magnitude=15, family=family)
