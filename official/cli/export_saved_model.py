r"""Exports an official or trained ResNet-RS checkpoint as a SavedModel for TF Serving.

    python tools/export_saved_model.py --checkpoint=resnet-rs-50-i160 \
        --checkpoint_format=tf1 --depth=50 --export_dir=/tmp/serving/resnet_rs/1

--checkpoint is a checkpoint prefix, a directory holding one, or an official name
(downloaded once into $RESNET_RS_CACHE or ~/.cache/resnet_rs). The moving-average
weights are exported when the checkpoint has them. See docs/checkpoints.md.
"""

from absl import app, flags

from official import cli  # the CLIs' shared pieces
from official.cli import checkpoint_flags
from official.cli.checkpoint_flags import CHECKPOINT, CHECKPOINT_FORMAT, CROP_PADDING, DEPTH, IMAGE_SIZE

flags.adopt_module_key_flags(checkpoint_flags)   # listed in --help
_EXPORT_DIR = flags.DEFINE_string("export_dir", None, "SavedModel directory to write (e.g. .../resnet_rs/1).")
_WARMUP = flags.DEFINE_bool("warmup", True, "Write assets.extra/tf_serving_warmup_requests.")
_BATCH_SPLITS = flags.DEFINE_integer(
    "batch_splits", 2, "Requests of >= this many images run as that many slices side by "
    "side (same logits, faster on CPUs); 1 for GPU serving.", lower_bound=1)
_PRECISION = flags.DEFINE_enum(
    "precision", "float32", ["float32", "bfloat16", "auto"],
    "Compute precision of the served model: bfloat16 (mixed, float32 weights and logits) "
    "is faster than float32 on some CPUs and slower on others; auto: bfloat16 only where "
    "a short measurement on THIS machine finds it faster (export where you serve; "
    "python -m official.runtime.precision_probe prints the measurement). Check its top-5 first "
    "with tools/compare_precision.py.")
_PREPROCESSING = flags.DEFINE_enum(
    "preprocessing", None, ["tf1", "garden", "garden_serving"],
    "Serving preprocessing; default: the family's eval path (the published accuracies). "
    "garden_serving: the Model Garden serving SavedModel's (decode, 0.875 slice, bilinear, "
    "truncating uint8 cast), to replace one.")
_FOLD_BATCH_NORM = flags.DEFINE_bool(
    "fold_batch_norm", None, "Fold the batch norms into the convolutions. Default: in bfloat16 only, "
    "where TensorFlow cannot fuse them; --fold_batch_norm also in float32: 1.03-1.06x faster on a "
    "2-core AVX2 CPU, logits moved by float rounding (1.0e-5 from the official code's against "
    "7.7e-6 unfolded, measured); --nofold_batch_norm never.")
flags.mark_flags_as_required(["checkpoint", "export_dir"])


def main(argv):
    del argv
    from official.checkpoints import files as checkpoint_files
    from official.serving import export
    from official.runtime import precision_probe
    from official import published
    from official.modeling import resnet_rs
    from official.validation import check_choice

    check_choice("--depth", DEPTH.value, sorted(resnet_rs.SPECS), error=app.UsageError)
    entry = published.CHECKPOINTS.get(CHECKPOINT.value)
    # An official name brings the resolution its published top-1 was measured at.
    image_size = IMAGE_SIZE.value or (entry.image_size if entry else checkpoint_files.image_size_of(CHECKPOINT.value))
    if not image_size:
        raise app.UsageError(f"--image_size is required: {CHECKPOINT.value!r} does not name its resolution")
    if entry and entry.depth != DEPTH.value:
        raise app.UsageError(f"--depth={DEPTH.value} but {CHECKPOINT.value} is depth {entry.depth}")
    family = checkpoint_flags.family()
    compute = precision_probe.resolve(_PRECISION.value, log=lambda fmt, *a: print(fmt % a))
    prefix, model = checkpoint_flags.load_or_exit(precision=compute)
    path = export.export_saved_model(model, _EXPORT_DIR.value, image_size, preprocessing=_PREPROCESSING.value or family,
                                     crop_padding=CROP_PADDING.value, warmup=_WARMUP.value,
                                     batch_splits=_BATCH_SPLITS.value,
                                     published_name=entry.name if entry else None,
                                     fold_batch_norm=_FOLD_BATCH_NORM.value)
    print(f"exported {prefix} ({CHECKPOINT_FORMAT.value}, depth {DEPTH.value}, {_PREPROCESSING.value or family} "
          f"preprocessing at {image_size}x{image_size}, {compute}) to {path}")


def run():
    """The console script (pyproject.toml [project.scripts])."""
    cli.run_main(__name__, main)


if __name__ == "__main__":
    run()
