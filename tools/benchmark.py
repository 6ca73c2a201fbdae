r"""Throughput benchmarks, printed as one JSON line.

Modes:
  --mode=input   images/s of the training input (decode-and-crop + resize + flip
                 + RandAugment + normalise, batched) and of the eval input, on
                 ImageNet-format TFRecords (generated if --data_dir is empty).
  --mode=train   (not implemented yet) training steps/s.
  --mode=infer   (not implemented yet) inference images/s.

Compare two systems as a ratio of runs interleaved on the same machine (A B A B).

Example:
  python tools/benchmark.py --mode=input --image_size=160 --batch_size=32 \
      --randaug_magnitude=10
  # -> {"mode": "input", "train": {"img_s_median": ...}, "eval": {...}, ...}
"""

import io
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time

from absl import app
from absl import flags
from absl import logging

# `python tools/benchmark.py` from the repository root: make `official` importable.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FLAGS = flags.FLAGS
flags.DEFINE_enum("mode", "input", ["input", "train", "infer"], "What to measure.")
flags.DEFINE_string("data_dir", "", "TFRecord folder ({split}-*); empty: generate one.")
flags.DEFINE_string("split", "train", "Shard prefix to read.")
flags.DEFINE_integer("label_offset", 1, "Subtracted from stored labels (0 for 0-based data).")
flags.DEFINE_integer("num_images", 2000, "Images to generate when --data_dir is empty.")
flags.DEFINE_integer("image_size", 160, "Output side.")
flags.DEFINE_integer("batch_size", 32, "Batch size.")
flags.DEFINE_enum("preprocessing", "tf1", ["tf1", "garden"], "Preprocessing family.")
flags.DEFINE_float("randaug_magnitude", 10, "RandAugment M (0 disables).")
flags.DEFINE_integer("randaug_num_layers", 2, "RandAugment ops per image.")
flags.DEFINE_list("pipelines", ["train", "eval"], "Which input pipelines to time.")
flags.DEFINE_integer("reps", 5, "Timed repetitions.")
flags.DEFINE_float("rep_seconds", 4.0, "Approximate length of one repetition.")
flags.DEFINE_float("warmup_seconds", 3.0, "Untimed warm-up (AUTOTUNE settles).")


def make_bench_tfrecords(out_dir, num_images, num_shards=8, seed=0):
  """ImageNet-like JPEGs from scikit-image's photos, in the official layout.

  Random crops of the sample photos, 300..500 x 250..450 px, with per-channel
  gain and sensor-like noise (sigma 8), JPEG quality 90: the data of
  /work/shared/bench/input_pipeline.py (ANCHORS.md §4), so figures compare.
  """
  import numpy as np  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  import skimage.data  # pylint: disable=g-import-not-at-top

  from official import tfrecords  # pylint: disable=g-import-not-at-top

  sources = []
  for name in ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry",
               "hubble_deep_field", "retina", "camera", "brick", "grass", "gravel",
               "moon", "colorwheel", "clock", "coins"):
    try:
      im = getattr(skimage.data, name)()
    except Exception:  # pylint: disable=broad-except  (sample needing a download)
      continue
    if im.ndim == 2:
      im = np.stack([im] * 3, -1)
    sources.append(Image.fromarray(np.ascontiguousarray(im[..., :3]).astype(np.uint8)))
  rng = np.random.default_rng(seed)

  def examples():
    for i in range(num_images):
      src = sources[rng.integers(len(sources))]
      sw, sh = src.size
      w, h = int(rng.integers(300, 501)), int(rng.integers(250, 451))
      f = min(rng.uniform(1.0, 1.6), sw / w, sh / h)
      cw, ch = max(32, int(w * f)), max(32, int(h * f))
      x0, y0 = int(rng.integers(0, sw - cw + 1)), int(rng.integers(0, sh - ch + 1))
      img = src.crop((x0, y0, x0 + cw, y0 + ch)).resize((w, h), Image.BICUBIC)
      arr = np.asarray(img).astype(np.float32) * rng.uniform(0.8, 1.2, size=3)
      arr += rng.normal(0.0, 8.0, size=arr.shape).astype(np.float32)
      buf = io.BytesIO()
      Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=90)
      yield buf.getvalue(), i % 1000 + 1, f"n{i % 1000:08d}", f"bench_{i}.JPEG"

  return tfrecords.write_tfrecords(examples(), out_dir, "train", num_shards, progress=False)


def time_dataset(ds, batch_size, reps, rep_seconds, warmup_seconds):
  """Median/min/max images/s over ``reps`` repetitions of ~``rep_seconds``."""
  it = iter(ds)
  t0 = time.perf_counter()
  next(it)
  first = time.perf_counter() - t0
  t0, n = time.perf_counter(), 0
  while time.perf_counter() - t0 < warmup_seconds:
    next(it)
    n += 1
  iters = max(1, round(rep_seconds / ((time.perf_counter() - t0) / max(n, 1))))
  rates = []
  for r in range(reps):
    t0 = time.perf_counter()
    for _ in range(iters):
      next(it)
    rates.append(batch_size * iters / (time.perf_counter() - t0))
    logging.info("rep %d: %.1f img/s", r, rates[-1])
  median = statistics.median(rates)
  return dict(img_s_median=round(median, 1), img_s_min=round(min(rates), 1),
              img_s_max=round(max(rates), 1), reps=reps, batches_per_rep=iters,
              first_batch_s=round(first, 2),
              core_ms_per_img=round(os.cpu_count() * 1000 / median, 2))


def bench_input():
  import ml_collections  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  from official import data  # pylint: disable=g-import-not-at-top

  data_dir, label_offset = FLAGS.data_dir, FLAGS.label_offset
  if not data_dir:
    data_dir = tempfile.mkdtemp(prefix="bench_input_")
    logging.info("generating %d JPEGs in %s", FLAGS.num_images, data_dir)
    make_bench_tfrecords(data_dir, FLAGS.num_images)
    label_offset = 1
  cfg = ml_collections.ConfigDict(dict(
      source="tfrecord", data_dir=data_dir, image_size=FLAGS.image_size, eval_image_size=0,
      preprocessing=FLAGS.preprocessing, crop_padding=32,
      randaug_num_layers=FLAGS.randaug_num_layers, randaug_magnitude=FLAGS.randaug_magnitude,
      randaug_variant=FLAGS.preprocessing, label_offset=label_offset, shuffle_buffer=1024,
      cache=False, deterministic=False, skip_corrupt=True, dtype="float32"))
  result = dict(mode="input", tf=tf.__version__, cpus=os.cpu_count(),
                cpu=_cpu_model(), image_size=FLAGS.image_size, batch_size=FLAGS.batch_size,
                preprocessing=FLAGS.preprocessing, randaug_magnitude=FLAGS.randaug_magnitude,
                randaug_num_layers=FLAGS.randaug_num_layers)
  for name in FLAGS.pipelines:
    is_training = name == "train"
    ds = data.build_dataset(cfg, split=FLAGS.split, is_training=is_training,
                            batch_size=FLAGS.batch_size, num_classes=1000)
    if not is_training:
      ds = ds.repeat()
    result[name] = time_dataset(ds, FLAGS.batch_size, FLAGS.reps, FLAGS.rep_seconds,
                                FLAGS.warmup_seconds)
  result["maxrss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
  return result


def _cpu_model():
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor()


def main(argv):
  del argv
  if FLAGS.mode == "input":
    result = bench_input()
  else:
    raise NotImplementedError(f"--mode={FLAGS.mode} is not implemented yet; use --mode=input")
  print(json.dumps(result), flush=True)


if __name__ == "__main__":
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  app.run(main)
