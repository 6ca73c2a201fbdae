"""The official TFRecord layout writer and its CLI, on real photographs."""

import io
import os
import tarfile

import numpy as np
import pytest
import skimage.data
import tensorflow as tf

from conftest import encode, run_tool
from official.data import tfrecords

KEYS = ("image/encoded", "image/class/label", "image/class/synset", "image/format",
        "image/filename", "image/height", "image/width", "image/colorspace", "image/channels")


def _enc(array, fmt="JPEG", mode=None):
  return encode(array, fmt, mode, quality=90)


PHOTO = skimage.data.chelsea()  # 300 x 451 RGB


def _read(paths):
  out = []
  for path in paths:
    for rec in tf.data.TFRecordDataset(path):
      ex = tf.train.Example.FromString(rec.numpy())
      out.append({k: ex.features.feature[k] for k in KEYS})
  return out


def test_layout_and_conversions(tmp_path):
  rgb = _enc(PHOTO)
  inputs = [
      (rgb, 1, "n00000001", "rgb.JPEG"),
      (_enc(PHOTO, mode="L"), 2, "n00000002", "grey.JPEG"),
      (_enc(PHOTO, "PNG"), 3, "n00000003", "png_in_disguise.JPEG"),
      (_enc(PHOTO, mode="CMYK"), 1, "n00000001", "cmyk.JPEG"),
      (PHOTO[:100, :120], 2, "n00000002", "array"),
  ]
  paths = tfrecords.write_tfrecords(inputs, str(tmp_path), "validation", 3, progress=False)
  assert [os.path.basename(p) for p in paths] == [
      "validation-00000-of-00003", "validation-00001-of-00003", "validation-00002-of-00003"]
  records = {r["image/filename"].bytes_list.value[0].decode(): r for r in _read(paths)}
  assert len(records) == 5
  for name, r in records.items():
    data = r["image/encoded"].bytes_list.value[0]
    assert data[:2] == b"\xff\xd8", name  # every record holds a JPEG
    image = tf.io.decode_jpeg(data).numpy()
    assert r["image/height"].int64_list.value[0] == image.shape[0]
    assert r["image/width"].int64_list.value[0] == image.shape[1]
    assert r["image/channels"].int64_list.value[0] == image.shape[2]
    assert r["image/format"].bytes_list.value[0] == b"JPEG"
  assert records["rgb.JPEG"]["image/encoded"].bytes_list.value[0] == rgb  # kept as is
  assert records["grey.JPEG"]["image/channels"].int64_list.value[0] == 1  # kept, as official
  for name in ("png_in_disguise.JPEG", "cmyk.JPEG"):  # re-encoded as RGB JPEG
    image = tf.io.decode_jpeg(records[name]["image/encoded"].bytes_list.value[0]).numpy()
    assert image.shape == PHOTO.shape
    assert np.abs(image.astype(int) - PHOTO).mean() < 5
  assert records["png_in_disguise.JPEG"]["image/class/label"].int64_list.value[0] == 3
  assert records["cmyk.JPEG"]["image/class/synset"].bytes_list.value[0] == b"n00000001"


def test_unreadable_file_skipped_and_bad_label_rejected(tmp_path, caplog):
  paths = tfrecords.write_tfrecords(
      [(_enc(PHOTO), 1, "a", "ok.JPEG"), (b"not an image", 1, "a", "broken.JPEG")],
      str(tmp_path), "train", 1, progress=False)
  assert len(_read(paths)) == 1
  with pytest.raises(ValueError, match="1-based.*zero.JPEG"):
    tfrecords.write_tfrecords([(_enc(PHOTO), 0, "a", "zero.JPEG")], str(tmp_path), "train", 1)


def _tar(path, members):
  with tarfile.open(path, "w") as tar:
    for name, payload in members:
      info = tarfile.TarInfo(name)
      info.size = len(payload)
      tar.addfile(info, io.BytesIO(payload))


def test_imagenet_layout_cli(tmp_path):
  """Per-synset tar + per-synset folder, flat validation files, through the CLI,
  labels 1 + index of the synset in sorted order (docs/fidelity.md: TFRecords)."""
  photos = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea()]
  train = tmp_path / "train"
  train.mkdir()
  _tar(train / "n01443537.tar", [(f"n01443537_{i}.JPEG", _enc(p)) for i, p in enumerate(photos)])
  folder = train / "n01440764"
  folder.mkdir()
  for i, p in enumerate(photos[:2]):
    (folder / f"n01440764_{i}.JPEG").write_bytes(_enc(p, "PNG"))  # PNG in disguise
  val = tmp_path / "val"
  val.mkdir()
  for i, p in enumerate(photos):
    (val / f"ILSVRC2012_val_{i + 1:08d}.JPEG").write_bytes(_enc(p))
  labels = tmp_path / "val_labels.txt"
  labels.write_text("n01443537\nn01440764\nn01443537\n")
  out = tmp_path / "out"
  proc = run_tool("make_tfrecords.py", f"--output_dir={out}", f"--imagenet_train={train}",
                  f"--imagenet_validation={val}", f"--validation_labels={labels}", "--train_shards=2",
                  "--validation_shards=1", timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert sorted(os.listdir(out)) == ["train-00000-of-00002", "train-00001-of-00002",
                                     "validation-00000-of-00001"]
  train_records = _read([str(out / "train-00000-of-00002"), str(out / "train-00001-of-00002")])
  got = sorted((r["image/class/synset"].bytes_list.value[0].decode(),
                r["image/class/label"].int64_list.value[0]) for r in train_records)
  assert got == [("n01440764", 1)] * 2 + [("n01443537", 2)] * 3  # 1 + sorted index
  val_records = _read([str(out / "validation-00000-of-00001")])
  assert [r["image/class/label"].int64_list.value[0] for r in val_records] == [2, 1, 2]


def test_folder_per_class_and_errors(tmp_path):
  for cls, photo in (("cats", skimage.data.chelsea()), ("cups", skimage.data.coffee())):
    (tmp_path / "tree" / cls).mkdir(parents=True)
    for i in range(2):
      (tmp_path / "tree" / cls / f"{i}.png").write_bytes(_enc(photo[i * 10:], "PNG"))
  examples, classes = tfrecords.image_folder_examples(str(tmp_path / "tree"))
  assert classes == ["cats", "cups"]
  assert sorted(e[1] for e in examples) == [1, 1, 2, 2]
  with pytest.raises(FileNotFoundError, match="does not exist"):
    tfrecords.image_folder_examples(str(tmp_path / "missing"))
  with pytest.raises(FileNotFoundError, match="no per-synset"):
    tfrecords.imagenet_train_examples(str(tmp_path / "tree" / "cats"))
  (tmp_path / "labels.txt").write_text("n1\n")
  with pytest.raises(ValueError, match="1 labels for 2 images"):
    tfrecords.imagenet_validation_examples(str(tmp_path / "tree" / "cats"),
                                           str(tmp_path / "labels.txt"), ["n1"])
