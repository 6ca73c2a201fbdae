r"""Classifies image files with a ResNet-RS and prints the top-5 ImageNet classes.

    python tools/predict.py --model=/tmp/serving/resnet_rs/1 cat.jpg dog.png
    python tools/predict.py --model=/tmp/rs50.keras cat.jpg
    python tools/predict.py --model=resnet-rs-50-i160 --checkpoint_format=tf1 cat.jpg

--model is a SavedModel directory (from tools/export_saved_model.py), a converted
.keras / .weights.h5 file (from tools/convert_checkpoint.py; its
.preprocessing.json sidecar gives the preprocessing), or a checkpoint prefix,
directory or official name (with --checkpoint_format). An unreadable image is
reported by name; the others are still classified, and the exit status is 1.
"""

import json
import os
import sys

from absl import app, flags

from official import cli  # the CLIs' shared pieces
from official import families

cli.enable_onednn(frozen_weights=True)   # inference only: the weights never change here

_MODEL = flags.DEFINE_string(
    "model", None, "SavedModel dir, .keras/.weights.h5 file, or checkpoint / official name.")
_CHECKPOINT_FORMAT = flags.DEFINE_enum(
    "checkpoint_format", families.TF1.checkpoint_format, list(families.FORMATS),
    "Format when --model is a checkpoint.")
_DEPTH = flags.DEFINE_integer(
    "depth", 50, "Depth when --model is a checkpoint or .weights.h5 without sidecar.")
_IMAGE_SIZE = flags.DEFINE_integer(
    "image_size", None, "Resolution; default: from the export / sidecar / official name.")
_FAMILY = flags.DEFINE_enum(
    "family", None, list(families.NAMES), "Preprocessing family; default: from the model's source.")
_CROP_PADDING = flags.DEFINE_integer(
    "crop_padding", families.TF1_CROP_PADDING, "P of the TF1 centre crop S/(S+P).")
_PRECISION = flags.DEFINE_enum(
    "precision", "float32", ["float32", "bfloat16", "auto"],
    "Compute precision when --model is a checkpoint or .weights.h5 (a SavedModel keeps "
    "the one it was exported in); auto: bfloat16 only where a short measurement on this "
    "machine finds it faster (official/runtime/precision_probe.py, printed).")
_TOP_K = flags.DEFINE_integer("top_k", 5, "How many classes to print (at most 5 for SavedModels).")
flags.mark_flag_as_required("model")


def _classifier():
    """fn(image_bytes) -> dict of outputs for one image; and a description."""
    import tensorflow as tf
    from official.checkpoints import files as checkpoint_files
    from official.checkpoints import readers
    from official.serving import export
    from official.runtime import precision
    from official.runtime import precision_probe

    path = _MODEL.value
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        signature = tf.saved_model.load(path).signatures["serving_default"]
        return (lambda b: signature(image_bytes=tf.constant([b]))), f"SavedModel {path}"
    sidecar = {}
    if os.path.isfile(path + ".preprocessing.json"):
        with open(path + ".preprocessing.json") as f:
            sidecar = json.load(f)
    family = families.of_format(_CHECKPOINT_FORMAT.value, _FAMILY.value or sidecar.get("family")).name
    image_size = _IMAGE_SIZE.value or sidecar.get("image_size") or checkpoint_files.image_size_of(path)
    if not image_size:
        raise app.UsageError(f"--image_size is required: nothing says at which resolution {path!r} runs")
    compute = _PRECISION.value
    if not path.endswith(".keras"):
        compute = precision_probe.resolve(
            _PRECISION.value, log=lambda fmt, *a: print(fmt % a, file=sys.stderr))
    if path.endswith(".keras"):
        import keras
        from official.modeling import resnet_rs  # noqa: F401  (registers the ResNetRS class)
        model = keras.saving.load_model(path)
    elif path.endswith(".weights.h5"):
        with precision.policy(compute):
            model = readers.model_for_format("native", sidecar.get("depth", _DEPTH.value), family=family)
        model.load_weights(path)
    else:
        with precision.policy(compute):
            model = readers.model_for_format(_CHECKPOINT_FORMAT.value, _DEPTH.value, family=family)
        readers.load_into(model, path, format=_CHECKPOINT_FORMAT.value)
    fn = export.serving_functions(model, int(image_size), family, sidecar.get("crop_padding", _CROP_PADDING.value))
    serve = fn["serving_default"]
    return (lambda b: serve(tf.constant([b]))), (f"{path} ({family} preprocessing at {image_size}, "
                                                 f"{precision.of(model)})")


def main(argv):
    images = argv[1:]
    if not images:
        raise app.UsageError("give one or more image files after the flags")
    import tensorflow as tf
    from official.checkpoints import files as checkpoint_files
    from official.data import imagenet_classes

    try:
        classify, what = _classifier()
    except (checkpoint_files.CheckpointError, checkpoint_files.DownloadError, FileNotFoundError, OSError,
            ValueError) as e:
        print(f"error: --model={_MODEL.value}: {e}", file=sys.stderr)
        sys.exit(1)
    names, synsets = imagenet_classes.names(), imagenet_classes.synsets()
    print(f"model: {what}")
    failed = 0
    for image in images:
        try:
            with open(image, "rb") as f:
                data = f.read()
            out = classify(data)
        except (OSError, tf.errors.InvalidArgumentError) as e:
            failed += 1
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e).strip().splitlines()[0]
            if isinstance(e, tf.errors.InvalidArgumentError):
                reason = "not a decodable JPEG/PNG/GIF/BMP image"
            print(f"error: cannot classify {image}: {reason}", file=sys.stderr)
            continue
        print(image)
        for rank, (c, s) in enumerate(zip(out["classes"][0].numpy()[:_TOP_K.value], out["scores"][0].numpy()), 1):
            print(f"  {rank}. {names[c]} ({synsets[c]}, class {c}): {s:.4f}")
    sys.exit(1 if failed else 0)


def run():
    """The console script (pyproject.toml [project.scripts])."""
    cli.run_main(__name__, main)


if __name__ == "__main__":
    run()
