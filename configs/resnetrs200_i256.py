"""ResNet-RS-200 at 256x256: the recipe of the published `resnetrs200_i256` checkpoint.

    python tools/train.py --config=configs/resnetrs200_i256.py --workdir=gs://BUCKET/resnetrs200_i256 \
        --strategy=tpu --tpu=TPU_NAME --config.data.data_dir=gs://BUCKET/imagenet-tfrecords

(rerunning it resumes; `--config=configs/resnetrs200_i256.py:garden` for the Garden family).
Expected top-1 with the EMA weights: TF1 family 83.4 (tensorflow/tpu README, §5.1; 256px, crop padding 32);
Garden family 83.5 (MODEL_GARDEN.md, §5.2).
This recipe's own values (§4.1, §4.2): dropout 0.25, stochastic depth 0.1 per stage,
RandAugment 2 layers x magnitude 15.
The values all recipes share, and which official choice each follows: configs/common.py.
"""

from configs import common


def get_config(family=""):
    family = common.family_of(family)
    return common.recipe(depth=200, image_size=256, dropout_rate=0.25, drop_connect_rate=0.1,
                         randaug_magnitude=15, family=family)
