r"""Exports an official or trained ResNet-RS checkpoint as a SavedModel for TF Serving.

    python tools/export_saved_model.py --checkpoint=resnet-rs-50-i160 \
        --checkpoint_format=tf1 --depth=50 --export_dir=/tmp/serving/resnet_rs/1

--checkpoint is a checkpoint prefix, a directory holding one, or an official name
(downloaded once into $RESNET_RS_CACHE or ~/.cache/resnet_rs). The moving-average
weights are exported when the checkpoint has them. See docs/checkpoints.md.
"""

import os
import sys


from absl import app, flags  # noqa: E402

from official.cli import checkpoint_flags  # noqa: E402

checkpoint_flags.define()
flags.adopt_module_key_flags(checkpoint_flags)   # listed in --help
flags.DEFINE_string("export_dir", None, "SavedModel directory to write (e.g. .../resnet_rs/1).")
flags.DEFINE_bool("warmup", True, "Write assets.extra/tf_serving_warmup_requests.")
flags.DEFINE_integer("batch_splits", 2, "Requests of >= this many images run as that many slices side by "
                     "side (same logits, faster on CPUs); 1 for GPU serving.", lower_bound=1)
flags.DEFINE_enum("precision", "float32", ["float32", "bfloat16", "auto"],
                  "Compute precision of the served model: bfloat16 (mixed, float32 weights and logits) "
                  "is faster than float32 on some CPUs and slower on others; auto: bfloat16 only where "
                  "a short measurement on THIS machine finds it faster (export where you serve; "
                  "python -m official.runtime.precision_probe prints the measurement). Check its top-5 first "
                  "with tools/compare_precision.py.")
flags.DEFINE_enum("preprocessing", None, ["tf1", "garden", "garden_serving"],
                  "Serving preprocessing; default: the family's eval path (the published accuracies). "
                  "garden_serving: the Model Garden serving SavedModel's (decode, 0.875 slice, bilinear, "
                  "truncating uint8 cast), to replace one.")
flags.mark_flags_as_required(["checkpoint", "export_dir"])


def main(argv):
    del argv
    from official.checkpoints import readers
    from official.serving import export
    from official.runtime import precision_probe
    from official import published
    from official.modeling import resnet_rs

    F = flags.FLAGS
    if F.depth not in resnet_rs.SPECS:
        raise app.UsageError(f"--depth={F.depth} is not one of {sorted(resnet_rs.SPECS)}")
    entry = published.CHECKPOINTS.get(F.checkpoint)
    # An official name brings the resolution its published top-1 was measured at.
    image_size = F.image_size or (entry.image_size if entry else readers.image_size_of(F.checkpoint))
    if not image_size:
        raise app.UsageError(f"--image_size is required: {F.checkpoint!r} does not name its resolution")
    if entry and entry.depth != F.depth:
        raise app.UsageError(f"--depth={F.depth} but {F.checkpoint} is depth {entry.depth}")
    family = checkpoint_flags.family_of(F)
    compute = precision_probe.resolve(F.precision, log=lambda fmt, *a: print(fmt % a))
    prefix, model = checkpoint_flags.load_or_exit(F, precision=compute)
    path = export.export_saved_model(model, F.export_dir, image_size, preprocessing=F.preprocessing or family,
                                     crop_padding=F.crop_padding, warmup=F.warmup,
                                     batch_splits=F.batch_splits,
                                     published_name=entry.name if entry else None)
    print(f"exported {prefix} ({F.checkpoint_format}, depth {F.depth}, {F.preprocessing or family} preprocessing at "
          f"{image_size}x{image_size}, {compute}) to {path}")


def run():
    """The console script (pyproject.toml [project.scripts])."""
    from official import cli  # pylint: disable=g-import-not-at-top
    cli.run_main(__name__, main)


if __name__ == "__main__":
    run()
