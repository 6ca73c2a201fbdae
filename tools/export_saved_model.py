r"""Exports an official or trained ResNet-RS checkpoint as a SavedModel for TF Serving.

    python tools/export_saved_model.py --checkpoint=resnet-rs-50-i160 \
        --checkpoint_format=tf1 --depth=50 --export_dir=/tmp/serving/resnet_rs/1

--checkpoint is a checkpoint prefix, a directory holding one, or an official name
(downloaded once into $RESNET_RS_CACHE or ~/.cache/resnet_rs). The moving-average
weights are exported when the checkpoint has them. See docs/checkpoints.md.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from tools import checkpoint_flags  # noqa: E402

checkpoint_flags.define()
flags.adopt_module_key_flags(checkpoint_flags)   # listed in --help
flags.DEFINE_string("export_dir", None, "SavedModel directory to write (e.g. .../resnet_rs/1).")
flags.DEFINE_boolean("warmup", True, "Write assets.extra/tf_serving_warmup_requests.")
flags.DEFINE_integer("batch_splits", 2, "Requests of >= this many images run as that many slices side by "
                     "side (same logits, faster on CPUs); 1 for GPU serving.", lower_bound=1)
flags.DEFINE_enum("precision", "float32", ["float32", "bfloat16"],
                  "Compute precision of the served model: bfloat16 (mixed, float32 weights and logits) "
                  "is ~1.4x faster on CPUs with AVX512-BF16 or AMX and slower on others; check its top-5 "
                  "first with tools/compare_precision.py.")
flags.mark_flags_as_required(["checkpoint", "export_dir"])


def main(argv):
    del argv
    from official import checkpoints, export, published, resnet_rs

    F = flags.FLAGS
    if F.depth not in resnet_rs.SPECS:
        raise app.UsageError(f"--depth={F.depth} is not one of {sorted(resnet_rs.SPECS)}")
    entry = published.CHECKPOINTS.get(F.checkpoint)
    # An official name brings the resolution its published top-1 was measured at.
    image_size = F.image_size or (entry.image_size if entry else checkpoints.image_size_of(F.checkpoint))
    if not image_size:
        raise app.UsageError(f"--image_size is required: {F.checkpoint!r} does not name its resolution")
    if entry and entry.depth != F.depth:
        raise app.UsageError(f"--depth={F.depth} but {F.checkpoint} is depth {entry.depth}")
    family = checkpoint_flags.family_of(F)
    prefix, model = checkpoint_flags.load_or_exit(F, precision=F.precision)
    path = export.export_saved_model(model, F.export_dir, image_size, preprocessing=family,
                                     crop_padding=F.crop_padding, warmup=F.warmup,
                                     batch_splits=F.batch_splits,
                                     published_name=entry.name if entry else None)
    print(f"exported {prefix} ({F.checkpoint_format}, depth {F.depth}, {family} preprocessing at "
          f"{image_size}x{image_size}, {F.precision}) to {path}")


if __name__ == "__main__":
    app.run(main)
