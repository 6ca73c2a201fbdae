r"""Classifies image files with a ResNet-RS and prints the top-5 classes by name.

    python tools/predict.py --model=/tmp/serving/resnet_rs/1 cat.jpg dog.png
    python tools/predict.py --model=/tmp/rs50.keras cat.jpg
    python tools/predict.py --model=resnet-rs-50-i160 --checkpoint_format=tf1 cat.jpg

--model is a SavedModel directory (from tools/export_saved_model.py or a training
run's export/), a converted .keras / .weights.h5 file (from tools/convert_checkpoint.py;
its .preprocessing.json sidecar gives the preprocessing), one of our training workdirs
(or a checkpoint in one: its model_config.json gives the model), or a checkpoint prefix,
directory or official name (with --checkpoint_format). The classes are named as the
model records them: a SavedModel's class names, a .keras model's or a run's
class_names; ImageNet's only for a 1000-class head that records none; class
indices otherwise. An unreadable image is reported by name; the others are still
classified, and the exit status is 1.
"""

import json
import os
import sys

from absl import app, flags

from official import cli
from official.cli import model_flags
from official import families

# Inference only: the weights never change in this process, so oneDNN may keep its
# re-laid-out copies of them (at batch 1 it otherwise re-lays every kernel out per call).
cli.enable_onednn(frozen_weights=True)

_MODEL = flags.DEFINE_string("model", None, "SavedModel dir, .keras/.weights.h5 file, training workdir, "
                             "or checkpoint / official name.")
# What --model holds when it is a checkpoint (a SavedModel, .keras or run records it itself).
_CKPT = model_flags.define(__name__, of="--model when it is a checkpoint or .weights.h5")
_PRECISION = flags.DEFINE_enum("precision", "float32", ["float32", "bfloat16", "auto"],
                               "Compute precision when --model is a checkpoint or .weights.h5 (a SavedModel keeps "
                               "the one it was exported in); auto: bfloat16 only where a short measurement "
                               "on this machine finds it faster (official/runtime/precision_probe.py, printed).")
_TOP_K = flags.DEFINE_integer("top_k", 5, "How many classes to print (at most 5 for SavedModels).")
flags.mark_flag_as_required("model")
# Checked with the flags, before TensorFlow's import: a mistyped path is said at once.
flags.register_validator("model", lambda path: path is None or not _missing(path),
                         "no such file or directory; give a SavedModel directory, a .keras or .weights.h5 "
                         "file, a checkpoint prefix or folder, one of our training workdirs, or an official "
                         "name (resnet-rs-50-i160, ...)")


def _our_run(path):
    """(prefix, model_config.json contents) when `path` is one of our runs or a checkpoint in one, else None."""
    for workdir in (path, os.path.dirname(os.path.dirname(path))):
        recorded = os.path.join(workdir, "model_config.json")
        if workdir and os.path.isfile(recorded):
            import tensorflow as tf
            prefix = path if os.path.isfile(path + ".index") else tf.train.latest_checkpoint(
                os.path.join(workdir, "checkpoints"))
            if prefix:
                with open(recorded) as f:
                    return prefix, json.load(f)
    return None


def _missing(path):
    """Whether `path` names no model at all: no file, no checkpoint prefix, no official name."""
    from official import published
    return not (path in published.CHECKPOINTS or os.path.exists(path) or os.path.exists(path + ".index"))


def _classifier():
    """(fn(image_bytes) -> dict of outputs for one image, description, whether the classes are ImageNet's)."""
    import tensorflow as tf
    from official.checkpoints import files as checkpoint_files
    from official.checkpoints import readers
    from official.serving import export
    from official.runtime import precision
    from official.runtime import precision_probe

    path = _MODEL.value
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        _refuse(_CKPT.given(), "a SavedModel records its network and preprocessing")
        signature = tf.saved_model.load(path).signatures["serving_default"]
        if "class_names" not in signature.structured_outputs:
            raise ValueError("not a SavedModel of official.serving.export (no class_names output)")
        metadata = export.read_metadata(path) or {}
        imagenet = str(metadata.get("classes", "")).startswith("imagenet")
        return (lambda b: signature(image_bytes=tf.constant([b]))), f"SavedModel {path}", imagenet
    sidecar = {}
    if os.path.isfile(path + ".preprocessing.json"):
        with open(path + ".preprocessing.json") as f:
            sidecar = json.load(f)
    run = None if path.endswith((".keras", ".h5")) else _our_run(path)
    if run or path.endswith(".keras"):
        _refuse(_CKPT.given("checkpoint_format", "depth"), "the model records its network")
    if run:
        from official.modeling import resnet_rs
        from official.training import state
        prefix, recorded = run
        kwargs = {k: v for k, v in recorded["model"].items() if v not in (None, [], ())}
        sidecar = {"image_size": recorded.get("image_size"),
                   "family": state.config_family(_Config(kwargs)) or families.TF1.name}
    family = _CKPT.family_name(recorded=sidecar.get("family"))
    image_size = _CKPT.pick("image_size", sidecar.get("image_size")) or checkpoint_files.image_size_of(path)
    if not image_size and not path.endswith(".keras"):    # a .keras model may say it (below)
        raise ValueError("nothing says at which resolution it runs: pass --image_size")
    compute = _PRECISION.value
    if not path.endswith(".keras"):
        compute = precision_probe.resolve(
            _PRECISION.value, log=lambda fmt, *a: print(fmt % a, file=sys.stderr))
    if run:
        with precision.policy(compute):
            model = resnet_rs.ResNetRS(**kwargs)
        readers.load_into(model, prefix, format="native")
    elif path.endswith(".keras"):
        import keras
        from official.modeling import resnet_rs  # noqa: F401  (registers the ResNetRS class)
        model = keras.saving.load_model(path)
        image_size = image_size or model.input_shape[1]
        if not image_size:
            raise ValueError("the model takes any resolution and nothing says which: pass --image_size")
    elif path.endswith(".weights.h5"):
        with precision.policy(compute):
            model = readers.model_for_format("native", _CKPT.pick("depth", sidecar.get("depth")), family=family)
        model.load_weights(path)
    else:
        with precision.policy(compute):
            model = readers.model_for_format(_CKPT.checkpoint_format.value, _CKPT.depth.value, family=family)
        readers.load_into(model, path, format=_CKPT.checkpoint_format.value)
    names = getattr(model, "class_names", None)
    units = model.get_layer("logits").units
    imagenet = names is None and units == 1000
    crop_padding = _CKPT.pick("crop_padding", sidecar.get("crop_padding"))
    fn = export.serving_functions(model, int(image_size), family, crop_padding,
                                  class_names=names)
    serve = fn["serving_default"]
    named = f"{len(names)} named classes" if names else ("ImageNet classes" if imagenet else f"{units} unnamed classes")
    return (lambda b: serve(tf.constant([b]))), (f"{path} ({family} preprocessing at {image_size}, "
                                                 f"{precision.of(model)}, {named})"), imagenet


def _refuse(given, why):
    """No flag is silently ignored: the ones that cannot apply to this --model are an error."""
    if given:
        raise ValueError(f"{why}; {', '.join(given)} would be ignored: leave {'them' if len(given) > 1 else 'it'} out")


class _Config:
    """config.model.get(...) over a recorded model dict (state.config_family reads it so)."""

    def __init__(self, model):
        self.model = model


def main(argv):
    images = argv[1:]
    if not images:
        raise app.UsageError("give one or more image files after the flags")
    import tensorflow as tf
    from official.checkpoints import files as checkpoint_files
    from official.data import imagenet_classes

    try:
        classify, what, imagenet = _classifier()
    except (checkpoint_files.CheckpointError, checkpoint_files.DownloadError, FileNotFoundError, OSError,
            ValueError) as e:
        print(f"error: --model={_MODEL.value}: {e}", file=sys.stderr)
        sys.exit(1)
    synsets = imagenet_classes.synsets() if imagenet else None
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
        ranked = zip(out["classes"][0].numpy()[:_TOP_K.value], out["class_names"][0].numpy(), out["scores"][0].numpy())
        for rank, (c, name, score) in enumerate(ranked, 1):
            where = f"{synsets[c]}, class {c}" if synsets else f"class {c}"
            print(f"  {rank}. {name.decode()} ({where}): {score:.4f}")
    sys.exit(1 if failed else 0)


def run():
    """The console script (pyproject.toml [project.scripts])."""
    cli.run_main(__name__, main)


if __name__ == "__main__":
    run()
