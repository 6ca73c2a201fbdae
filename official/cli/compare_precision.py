r"""Does bfloat16 change what a checkpoint predicts? Top-5 of float32 against bfloat16.

Loads one checkpoint twice, in float32 and in --precision (mixed bfloat16: float32
weights and logits, bfloat16 compute), classifies the same images through the
serving path (decode, the family's eval crop and resize, normalise, the model:
official/serving/export.py), and prints, per image, both top-5 lists; then one JSON line
with the agreement (official/runtime/precision.py `agreement`). Exit status 1 when fewer
than --min_agreement of the images keep their top-5 set, so a script can gate a
bfloat16 export on it.

bfloat16 keeps 8 bits of mantissa: rounding the input image alone moves logits by
~1% of their range, so classes whose float32 logits are that close can swap places.
A trained checkpoint's margins are usually wider than that; check yours here.

Without image files it uses scikit-image's sample photographs (and two crops of
each), which ship with scikit-image: no download.

    python tools/compare_precision.py --checkpoint=resnet-rs-50-i160 --checkpoint_format=tf1 --depth=50
    python tools/compare_precision.py --checkpoint=/ckpts/garden/ckpt-109000 \
        --checkpoint_format=garden --depth=101 --image_size=192 cat.jpg dog.jpg
"""

import json
import os
import sys

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")   # as the other inference CLIs

from absl import app, flags  # noqa: E402

from official.cli import checkpoint_flags  # noqa: E402

checkpoint_flags.define()
flags.adopt_module_key_flags(checkpoint_flags)   # listed in --help
flags.DEFINE_enum("precision", "bfloat16", ["bfloat16"], "The precision compared with float32.")
flags.DEFINE_integer("top_k", 5, "How many classes to compare.", lower_bound=1)
flags.DEFINE_float("min_agreement", 1.0, "Fraction of images whose top-k set must stay the same "
                   "(else exit status 1).", lower_bound=0.0, upper_bound=1.0)
flags.mark_flag_as_required("checkpoint")


def main(argv):
    import numpy as np  # pylint: disable=g-import-not-at-top
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    from official.checkpoints import readers  # pylint: disable=g-import-not-at-top
    from official.data import demo_data  # pylint: disable=g-import-not-at-top
    from official.serving import export  # pylint: disable=g-import-not-at-top
    from official.runtime import precision  # pylint: disable=g-import-not-at-top

    F = flags.FLAGS
    image_size = F.image_size or readers.image_size_of(F.checkpoint)
    if not image_size:
        raise app.UsageError(f"--image_size is required: {F.checkpoint!r} does not name its resolution")
    images = []
    for path in argv[1:]:
        try:
            with open(path, "rb") as f:
                images.append((path, f.read()))
        except OSError as e:
            print(f"error: cannot read {path}: {e.strerror}", file=sys.stderr)
            sys.exit(1)
    images = images or demo_data.photographs()
    bad = [name for name, data in images if not _decodes(data)]    # before any model is built
    if bad:
        print(f"error: not a decodable JPEG/PNG/GIF/BMP image: {', '.join(bad)}", file=sys.stderr)
        sys.exit(1)
    family = checkpoint_flags.family_of(F)
    logits = {}
    for p in ("float32", F.precision):
        _, model = checkpoint_flags.load_or_exit(F, precision=p)
        serve = export.serving_functions(model, int(image_size), family, F.crop_padding)["serving_default"]
        logits[p] = np.concatenate([serve(tf.constant([b]))["logits"].numpy() for _, b in images])
    result = precision.agreement(logits["float32"], logits[F.precision], F.top_k)
    for (name, _), (same_set, same_order, ref, other) in zip(images, result.pop("per_image")):
        mark = "same" if same_order else ("same set" if same_set else "DIFFERENT")
        print(f"{name}: float32 {ref}  {F.precision} {other}  {mark}")
    result.update(checkpoint=F.checkpoint, depth=F.depth, image_size=int(image_size), family=family,
                  precision=F.precision, cpu_bfloat16=list(precision.cpu_bfloat16_support()))
    print(json.dumps(result))
    sys.exit(0 if result["topk_same_set"] >= F.min_agreement else 1)


def _decodes(data):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    try:
        tf.io.decode_image(data)
        return True
    except tf.errors.InvalidArgumentError:
        return False


def run():
    """The console script (pyproject.toml [project.scripts])."""
    from official import cli  # pylint: disable=g-import-not-at-top
    cli.run_main(__name__, main)


if __name__ == "__main__":
    run()
