"""The Model Garden's ImageNet training input: images/s through tf.data on given TFRecords.

Runs in the Garden's virtual environment (see garden_resnetrs.py). Reads
`{data}/{split}-*` TFRecords in the official layout (`image/encoded` JPEG,
`image/class/label`), e.g. the ones `tools/benchmark.py --mode=input` writes, and
parses them with the Garden's `classification_input.Parser` in training mode: random
distorted-bounding-box crop decoded from the JPEG (area 0.08-1), flip, bilinear resize,
mean/std normalisation and, with --variant garden_randaug, RandAugment (2 layers,
magnitude 10, as the Garden's resnet_rs_imagenet experiment). Every map and interleave
runs with AUTOTUNE parallelism; batches of 32 are prefetched.

Usage:
    python official/benchmarks/peers/input_pipeline.py --data DIR [--variant garden_randaug|garden_crop]
Final line: RESULT {json} with img_s_median/min/max.
"""

import argparse
import glob
import os
import statistics
import time

from peer_timing import print_result

p = argparse.ArgumentParser()
p.add_argument("--data", required=True, help="folder of {split}-*-of-* TFRecords")
p.add_argument("--split", default="train")
p.add_argument("--variant", choices=["garden_randaug", "garden_crop"], default="garden_randaug")
p.add_argument("--size", type=int, default=160)
p.add_argument("--batch", type=int, default=32)
p.add_argument("--reps", type=int, default=5)
p.add_argument("--rep-seconds", type=float, default=4.0)
p.add_argument("--warmup-seconds", type=float, default=3.0)
a = p.parse_args()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["CUDA_VISIBLE_DEVICES"] = ""

import tensorflow as tf  # noqa: E402
from official.vision.configs import common  # noqa: E402  (the Garden's package)
from official.vision.dataloaders import classification_input  # noqa: E402

files = sorted(glob.glob(os.path.join(a.data, f"{a.split}-*")))
if not files:
    raise SystemExit(f"--data: no {a.split}-* TFRecords in {a.data}")
augment = (common.Augmentation(type="randaug", randaug=common.RandAugment(magnitude=10))
           if a.variant == "garden_randaug" else None)
parse = classification_input.Parser(output_size=[a.size, a.size], num_classes=1000,
                                    aug_type=augment).parse_fn(is_training=True)
decoder = classification_input.Decoder()
ds = tf.data.Dataset.from_tensor_slices(files).repeat().interleave(
    tf.data.TFRecordDataset, cycle_length=len(files), num_parallel_calls=tf.data.AUTOTUNE,
    deterministic=False)
ds = ds.map(lambda record: parse(decoder.decode(record)), num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=False).batch(a.batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE)

batches = iter(ds)
next(batches)
t0, n = time.perf_counter(), 0
while time.perf_counter() - t0 < a.warmup_seconds:     # AUTOTUNE settles
    next(batches)
    n += 1
per_rep = max(1, round(a.rep_seconds / ((time.perf_counter() - t0) / max(n, 1))))
rates = []
for r in range(a.reps):
    t0 = time.perf_counter()
    for _ in range(per_rep):
        next(batches)
    rates.append(a.batch * per_rep / (time.perf_counter() - t0))
    print(f"rep {r}: {rates[-1]:.1f} img/s", flush=True)
print_result(dict(system="tf.data / tf " + tf.__version__, variant=a.variant, size=a.size,
                  batch=a.batch, reps=a.reps, batches_per_rep=per_rep,
                  img_s_median=round(statistics.median(rates), 1),
                  img_s_min=round(min(rates), 1), img_s_max=round(max(rates), 1)))
