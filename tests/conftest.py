"""Shared test set-up and helpers: quiet TensorFlow, the project importable, and what the
test files would otherwise each copy (the repository root, a runner for tools/*.py, JPEG
and TFRecord builders, the photographs, the small ResNet-RS).

The test files import the helpers by name (pytest puts tests/ on sys.path), e.g.:

    from conftest import ROOT, SMALL, run_tool, small_model
    out = run_tool("benchmark.py", "--mode=input")
    model = small_model(input_shape=(32, 32, 3), num_classes=10)
"""

import io
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# Two logical CPUs for the MirroredStrategy tests (tests/test_distribute.py, test_train.py,
# test_ema.py). Devices can only be configured before TensorFlow's runtime starts, i.e.
# before the first test of any file touches a tensor, so it is done here, once.
from official.runtime import distribute  # noqa: E402  pylint: disable=wrong-import-position

distribute.configure_logical_cpus(2)

import numpy as np  # noqa: E402  pylint: disable=wrong-import-position

# The small ResNet-RS the tests train, export and serve: one block per stage still has
# every kind of block (stem, the stride-1 and strided first blocks with their projection
# shortcuts, SE, head) and builds in about a second; an RS-50 takes several and traces
# 4x the ops. Only tests of the published shapes (checkpoint layouts, parameter counts,
# the official-reference comparisons) build real depths.
SMALL = (1, 1, 1, 1)
SMALL_FLAG = "--config.model.block_counts=1,1,1,1"   # the same for tools/train.py
# Images of this size keep every stage's feature map at least 1x1 (stride 32 overall).
SMALL_IMAGE = 32


def small_model(depth=50, **kwargs):
    """ResNetRS(depth, block_counts=SMALL, **kwargs): the blocks of `depth`'s family, one per stage.

    Example:
        >>> small_model(input_shape=(32, 32, 3), num_classes=10).block_counts
        (1, 1, 1, 1)
    """
    from official.modeling import resnet_rs  # pylint: disable=import-outside-toplevel
    return resnet_rs.ResNetRS(depth, block_counts=SMALL, **kwargs)


def small_demo_config(**train):
    """configs/demo.py with the small model (32 px, 10 classes) and `train` overrides.

    Example:
        >>> small_demo_config(global_batch_size=8).model.block_counts
        (1, 1, 1, 1)
    """
    from configs import demo  # pylint: disable=import-outside-toplevel
    config = demo.get_config()
    config.model.block_counts = SMALL
    config.train.update(train)
    return config


# --------------------------------------------------------------------- processes

def tool_env(**extra):
    """The environment of a child process: this one's, quiet, CPU only, plus `extra`."""
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "", **extra}


def run_tool(script, *flags, timeout=600, env=None):
    """Runs tools/`script` with `flags` as a user would (cwd = the repository root).

    Returns the CompletedProcess (text stdout/stderr); the exit status is left to the test.

    Example:
        >>> run_tool("train.py").returncode != 0   # --workdir is required
        True
    """
    return run_python(os.path.join(ROOT, "tools", script), *flags, timeout=timeout, env=env)


def run_python(*args, timeout=600, env=None):
    """`python *args` in the repository root (a script, or "-c", code, ...)."""
    return subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, env=env or tool_env(),
                          capture_output=True, text=True, timeout=timeout, check=False)


def last_json_line(completed):
    """The JSON object a tool prints as its last stdout line; fails with its stderr if it failed."""
    import json  # pylint: disable=import-outside-toplevel
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------- images

def photo(name):
    """scikit-image's photograph `name` (e.g. "chelsea") as uint8 RGB [H, W, 3]."""
    import skimage.data  # pylint: disable=import-outside-toplevel
    image = np.asarray(getattr(skimage.data, name)())
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return np.ascontiguousarray(image[..., :3]).astype(np.uint8)


def encode(array, fmt="JPEG", mode=None, **kwargs):
    """`array` encoded by PIL as `fmt` (after converting to `mode`, e.g. "L", "CMYK").

    Example:
        >>> encode(photo("chelsea"))[:2]
        b'\\xff\\xd8'
    """
    from PIL import Image  # pylint: disable=import-outside-toplevel
    buf = io.BytesIO()
    image = Image.fromarray(array)
    (image.convert(mode) if mode else image).save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def jpeg(array, quality=95):
    """`array` as JPEG bytes (TensorFlow's encoder)."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    return tf.io.encode_jpeg(array, quality=quality).numpy()


# --------------------------------------------------------------------- TFRecords

def write_raw_tfrecord(path, records):
    """Writes [(image bytes, label, filename bytes)] as ImageNet-format Examples, unchecked
    (the official writer refuses bad records; this writes what a broken shard holds)."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    with tf.io.TFRecordWriter(str(path)) as writer:
        for image_bytes, label, name in records:
            example = tf.train.Example(features=tf.train.Features(feature={
                "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image_bytes])),
                "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
                "image/filename": tf.train.Feature(bytes_list=tf.train.BytesList(value=[name])),
            }))
            writer.write(example.SerializeToString())


def write_photo_tfrecords(out_dir, names=("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field",
                                          "immunohistochemistry"), crops=4, size=48, num_classes=3, seed=0):
    """Random `size`-px crops of the photographs as train/validation TFRecords (official writer).

    Each photograph gives `crops` crops, the last one to validation; labels are 1-based,
    1..num_classes. Returns out_dir.
    """
    import skimage.transform  # pylint: disable=import-outside-toplevel
    from official.data import tfrecords  # pylint: disable=import-outside-toplevel
    rng = np.random.default_rng(seed)
    examples = {"train": [], "validation": []}
    for i, name in enumerate(names):
        image = photo(name)
        for j in range(crops):
            y, x = rng.integers(0, image.shape[0] - 64), rng.integers(0, image.shape[1] - 64)
            crop = skimage.transform.resize(image[y:y + 64, x:x + 64], (size, size), preserve_range=True)
            split = "validation" if j == crops - 1 else "train"
            examples[split].append((crop.astype(np.uint8), i % num_classes + 1, "", f"{name}_{j}.jpg"))
    for split, items in examples.items():
        tfrecords.write_tfrecords(items, str(out_dir), split, num_shards=2, progress=False)
    return str(out_dir)


def tar_bytes(members):
    """An uncompressed tar archive of (name, bytes) members, as the ImageNet tars TFDS reads."""
    import tarfile  # pylint: disable=g-import-not-at-top
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, payload in members:
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue()
