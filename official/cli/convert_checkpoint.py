r"""Converts an official ResNet-RS checkpoint to a Keras file (.keras or .weights.h5).

    python tools/convert_checkpoint.py --checkpoint=resnet-rs-50-i160 \
        --checkpoint_format=tf1 --depth=50 --output=/tmp/resnet_rs_50_i160.keras

Prints the preprocessing the weights were evaluated with and writes it next to the
output as OUTPUT.preprocessing.json (tools/predict.py reads it).
"""

import json
import os

from absl import app, flags

from official import cli  # the CLIs' shared pieces
from official import families
from official.cli import checkpoint_flags
from official.cli.checkpoint_flags import CHECKPOINT, CHECKPOINT_FORMAT, CROP_PADDING, DEPTH, EMA, IMAGE_SIZE

flags.adopt_module_key_flags(checkpoint_flags)   # listed in --help
_OUTPUT = flags.DEFINE_string(
    "output", None, "Output file: *.keras (model + weights) or *.weights.h5 (weights only).")
_INCLUDE_TOP = flags.DEFINE_bool("include_top", True, "Keep the classification head (False: backbone only).")
flags.mark_flags_as_required(["checkpoint", "output"])


def describe(family, image_size, crop_padding):
    """One paragraph: the preprocessing that goes with the converted weights."""
    size = image_size or "S"
    fraction = families.get(family).eval_crop_fraction
    if fraction is None:
        crop = (f"centre crop of side int({size}/({size}+{crop_padding}) x short side), offset "
                "((dim - side) + 1) // 2, cropped while decoding JPEGs; TF1 legacy bicubic resize "
                f"(half_pixel_centers=False) to {size}x{size}")
    else:
        crop = (f"centre crop of side int({fraction} x short side), offset int((dim - {fraction} x short) / 2); "
                f"TF2 bilinear resize to {size}x{size}")
    return (f"{crop}; then (x - 255*[0.485, 0.456, 0.406]) / (255*[0.229, 0.224, 0.225]) on RGB 0..255. "
            f"In code: official.data.preprocessing.preprocess_for_eval(image_bytes, {size}, family={family!r}, "
            f"crop_padding={crop_padding}) followed by official.modeling.normalization.normalize().")


def main(argv):
    del argv
    from official.checkpoints import files as checkpoint_files

    if not _OUTPUT.value.endswith((".keras", ".weights.h5")):
        raise app.UsageError(f"--output={_OUTPUT.value!r} must end in .keras or .weights.h5")
    family = checkpoint_flags.family()
    image_size = IMAGE_SIZE.value or checkpoint_files.image_size_of(CHECKPOINT.value)
    prefix, model = checkpoint_flags.load_or_exit(include_top=_INCLUDE_TOP.value)
    os.makedirs(os.path.dirname(os.path.abspath(_OUTPUT.value)), exist_ok=True)
    if _OUTPUT.value.endswith(".keras"):
        model.save(_OUTPUT.value)
    else:
        model.save_weights(_OUTPUT.value)
    meta = {"source": prefix, "checkpoint_format": CHECKPOINT_FORMAT.value, "depth": DEPTH.value, "family": family,
            "include_top": _INCLUDE_TOP.value, "image_size": image_size, "crop_padding": CROP_PADDING.value,
            "ema": EMA.value}
    with open(_OUTPUT.value + ".preprocessing.json", "w") as f:
        json.dump(meta, f, indent=1)
    print(f"wrote {_OUTPUT.value} (depth {DEPTH.value}, {family} family) from {prefix}")
    print("preprocessing: " + describe(family, image_size, CROP_PADDING.value))


def run():
    """The console script (pyproject.toml [project.scripts])."""
    cli.run_main(__name__, main)


if __name__ == "__main__":
    run()
