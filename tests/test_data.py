"""End to end: real photographs in ImageNet-format TFRecords through build_dataset."""

import os
import re

import ml_collections
import numpy as np
import pytest
import skimage.data
import tensorflow as tf

from conftest import encode, tar_bytes, write_raw_tfrecord
from official.data import pipeline
from official.data import reading
from official.data import preprocessing as pp
from official.modeling import normalization
from official.data import tfrecords

NUM_CLASSES = 5
LO = float(np.min(normalization.normalize(tf.zeros([3])).numpy()))
HI = float(np.max(normalization.normalize(tf.fill([3], 255.0)).numpy()))


def _photos():
  """(bytes, label, synset, filename): real photos in several encodings."""
  out = []
  names = ["astronaut", "coffee", "chelsea", "rocket", "camera"]
  for i, name in enumerate(names * 3):
    im = getattr(skimage.data, name)()
    im = im[(i % 3) * 20:, (i % 3) * 30:]  # different crops of each photo
    fmt, mode = "JPEG", None
    if i == 5:
      fmt = "PNG"  # re-encoded as JPEG by the writer
    if i == 6:
      mode = "CMYK"  # re-encoded as RGB JPEG by the writer
    label = i % NUM_CLASSES + 1
    out.append((encode(im, fmt, mode, quality=90), label, f"n{label:08d}", f"img_{i}.JPEG"))
  return out


@pytest.fixture(scope="module")
def imagenet_dir(tmp_path_factory):
  d = tmp_path_factory.mktemp("imagenet")
  photos = _photos()
  tfrecords.write_tfrecords(photos, str(d), "train", 3, progress=False)
  tfrecords.write_tfrecords(photos, str(d), "validation", 2, progress=False)
  return str(d), photos


def _cfg(data_dir, **kw):
  c = dict(source="tfrecord", data_dir=data_dir, tfds_name="", tfds_manual_dir="",
           train_split="train", eval_split="validation", image_size=96, eval_image_size=0,
           preprocessing="tf1", crop_padding=32, randaug_num_layers=2, randaug_magnitude=15,
           randaug_variant="tf1", label_offset=1, shuffle_buffer=64, cache=False,
           deterministic=True, skip_corrupt=True, num_train_images=15, num_eval_images=15,
           dtype="float32")
  c.update(kw)
  return ml_collections.ConfigDict(c)


def test_training_pipeline(imagenet_dir):
  d, photos = imagenet_dir
  ds = pipeline.build_dataset(_cfg(d), split="train", is_training=True, batch_size=8,
                          num_classes=NUM_CLASSES, seed=1)
  assert ds.element_spec[0].shape.as_list() == [8, 96, 96, 3]  # drop_remainder
  labels = []
  for images, y in ds.take(6):  # 48 > 15 images: the training set repeats
    images = images.numpy()
    assert images.dtype == np.float32
    assert images.min() >= LO - 1e-5 and images.max() <= HI + 1e-5
    assert y.dtype == tf.int32
    labels += list(y.numpy())
  assert set(labels) == set(range(NUM_CLASSES))  # 1-based stored, 0-based out


def test_eval_pipeline_matches_preprocess_for_eval(imagenet_dir):
  d, photos = imagenet_dir
  cfg = _cfg(d, eval_image_size=64)
  ds = pipeline.build_dataset(cfg, split="validation", is_training=False, batch_size=4,
                          num_classes=NUM_CLASSES)
  batches = list(ds)
  assert [b[0].shape[0] for b in batches] == [4, 4, 4, 3]  # one pass, remainder kept
  images = np.concatenate([b[0].numpy() for b in batches])
  labels = np.concatenate([b[1].numpy() for b in batches])
  assert images.shape == (15, 64, 64, 3)
  assert sorted(labels) == sorted(p[1] - 1 for p in photos)
  # The first element is the first record of the first shard (round-robin writer).
  stored = next(iter(tf.data.TFRecordDataset(os.path.join(d, "validation-00000-of-00002"))))
  image_bytes, label, _ = pipeline.parse_example(stored)
  want = normalization.normalize(pp.preprocess_for_eval(image_bytes, 64)).numpy()
  np.testing.assert_allclose(images[0], want, atol=1e-5)
  assert labels[0] == label.numpy() - 1


def test_deterministic_mode_repeats_exactly(imagenet_dir):
  d, _ = imagenet_dir
  runs = []
  for _ in range(2):
    ds = pipeline.build_dataset(_cfg(d), split="train", is_training=True, batch_size=4,
                            num_classes=NUM_CLASSES, seed=3)
    runs.append([(x.numpy(), y.numpy()) for x, y in ds.take(3)])
  for (xa, ya), (xb, yb) in zip(*runs):
    np.testing.assert_array_equal(xa, xb)
    np.testing.assert_array_equal(ya, yb)


def test_garden_bfloat16_and_sharding(imagenet_dir):
  d, _ = imagenet_dir
  cfg = _cfg(d, preprocessing="garden", randaug_variant="garden", randaug_magnitude=10,
             dtype="bfloat16")
  x, _ = next(iter(pipeline.build_dataset(cfg, split="train", is_training=True, batch_size=2,
                                      num_classes=NUM_CLASSES)))
  assert x.dtype == tf.bfloat16
  # Two input pipelines split the 2 validation files between them.
  counts = []
  for i in range(2):
    ctx = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=i,
                                     num_replicas_in_sync=2)
    ds = pipeline.build_dataset(_cfg(d), split="validation", is_training=False, batch_size=16,
                            num_classes=NUM_CLASSES, input_context=ctx)
    counts.append(sum(int(b[1].shape[0]) for b in ds))
  assert sorted(counts) == [7, 8]


_write_raw = write_raw_tfrecord


@pytest.fixture(scope="module")
def corrupt_dir(tmp_path_factory, imagenet_dir):
  d = tmp_path_factory.mktemp("corrupt")
  good = [(p[0], p[1], p[3].encode()) for p in _photos()[:6]]
  good_jpeg = good[0][0]
  records = good[:3] + [
      (b"this is not an image", 1, b"text.JPEG"),
      (good_jpeg[:len(good_jpeg) // 3], 2, b"truncated.JPEG"),
  ] + good[3:]
  _write_raw(str(d / "validation-00000-of-00001"), records)
  _write_raw(str(d / "train-00000-of-00001"), records)
  return str(d)


@pytest.mark.parametrize("is_training", [False, True])
def test_corrupt_records_are_skipped_and_counted(corrupt_dir, capfd, is_training):
  ds = pipeline.build_dataset(_cfg(corrupt_dir, deterministic=False), split=(
      "train" if is_training else "validation"), is_training=is_training, batch_size=1,
      num_classes=NUM_CLASSES, seed=0)
  n = sum(1 for _ in ds.take(18 if is_training else -1))
  assert n == (18 if is_training else 6)  # 2 of 8 records dropped, no crash
  err = capfd.readouterr().err
  assert "skipped" in err and "corrupt" in err
  if not is_training:
    assert "total skipped: 2" in err


def test_corrupt_record_fatal_when_asked(corrupt_dir):
  ds = pipeline.build_dataset(_cfg(corrupt_dir, skip_corrupt=False), split="validation",
                          is_training=False, batch_size=1, num_classes=NUM_CLASSES)
  with pytest.raises(tf.errors.InvalidArgumentError):
    for _ in ds:
      pass


def test_label_out_of_range_names_label_and_file(tmp_path):
  jpeg = _photos()[0][0]
  _write_raw(str(tmp_path / "validation-00000-of-00001"),
             [(jpeg, 1, b"ok.JPEG"), (jpeg, 9, b"bad_label.JPEG")])
  ds = pipeline.build_dataset(_cfg(str(tmp_path)), split="validation", is_training=False,
                          batch_size=1, num_classes=NUM_CLASSES)
  with pytest.raises(tf.errors.InvalidArgumentError) as raised:
    for _ in ds:
      pass
  # The label as stored in the file, and the file; one line for the CLI.
  assert pipeline.data_error(raised.value) == (
      "label 9 of bad_label.JPEG is outside the head of 5 classes (0..4 after subtracting "
      "data.label_offset=1): set config.model.num_classes to the data's number of classes, or fix the label")


def test_missing_inputs_have_clear_errors(tmp_path):
  with pytest.raises(FileNotFoundError, match="does not exist"):
    pipeline.build_dataset(_cfg(str(tmp_path / "nope")), split="train", is_training=True,
                       batch_size=2, num_classes=5)
  (tmp_path / "other-00000-of-00001").write_bytes(b"")
  with pytest.raises(FileNotFoundError, match=r"no TFRecord shards match .*train-\*"):
    pipeline.build_dataset(_cfg(str(tmp_path)), split="train", is_training=True, batch_size=2,
                       num_classes=5)
  with pytest.raises(ValueError, match="data.source"):
    pipeline.build_dataset(_cfg(str(tmp_path), source="csv"), split="train", is_training=True,
                       batch_size=2, num_classes=5)


def test_synthetic():
  cfg = _cfg("", source="synthetic", image_size=32)
  x, y = next(iter(pipeline.build_dataset(cfg, split="train", is_training=True, batch_size=4,
                                      num_classes=10)))
  assert x.shape == (4, 32, 32, 3) and y.dtype == tf.int32
  assert int(tf.reduce_max(y)) < 10



def test_tfds_imagenet2012_from_manual_dir(tmp_path):
  """imagenet2012 prepared by TFDS from tars in the distributed layout."""
  photos = _photos()
  manual = tmp_path / "manual"
  manual.mkdir()
  synsets = ["n01440764", "n01443537"]  # classes 0 and 1 of ImageNet
  inner = [(f"{s}.tar", tar_bytes([(f"{s}_{k}.JPEG", photos[k][0]) for k in range(3)]))
           for s in synsets]
  (manual / "ILSVRC2012_img_train.tar").write_bytes(tar_bytes(inner))
  (manual / "ILSVRC2012_img_val.tar").write_bytes(tar_bytes(
      [(f"ILSVRC2012_val_{k:08d}.JPEG", photos[k][0]) for k in (1, 2)]))
  cfg = _cfg(str(tmp_path / "tfds"), source="tfds", tfds_name="imagenet2012",
             tfds_manual_dir=str(manual), label_offset=0)
  ds = pipeline.build_dataset(cfg, split="train", is_training=True, batch_size=3,
                          num_classes=1000)
  x, y = next(iter(ds))
  assert x.shape == (3, 96, 96, 3) and set(y.numpy()) <= {0, 1}
  ds = pipeline.build_dataset(cfg, split="validation", is_training=False, batch_size=4,
                          num_classes=1000)
  labels = np.concatenate([b[1].numpy() for b in ds])
  assert sorted(labels) == [65, 970]  # the real labels of val images 1 and 2


# --------------------------------------------------------------- folder source --
def _folder(root, per_class, seed=0):
  import photo_folders  # pylint: disable=import-outside-toplevel
  return photo_folders.write_tree(str(root), per_class, seed=seed)


def test_folder_split_is_per_class_seeded_and_counts_the_files(tmp_path):
  from official.data import folders  # pylint: disable=import-outside-toplevel
  classes = _folder(tmp_path / "photos", per_class=10)
  (tmp_path / "photos" / "coffee" / "notes.jpg").write_bytes(b"not an image")
  (tmp_path / "photos" / "coffee" / "readme.txt").write_bytes(b"ignored: not an image name")
  png = encode(skimage.data.coffee()[:96, :96], "PNG")
  (tmp_path / "photos" / "coffee" / "z.png").write_bytes(png)
  data = folders.load(str(tmp_path / "photos"), 0.2)
  assert data.classes == tuple(classes) == ("astronaut", "chelsea", "coffee")
  val = data.split("validation")
  assert [sum(1 for _, label, _ in val if label == k) for k in range(3)] == [2, 2, 2]  # 20% of 10 (11)
  assert data.count("train") == 8 + 8 + 9 and data.count("validation") == 6
  assert not {p for p, _, _ in val} & {p for p, _, _ in data.split("train")}
  assert [p for p, _, convert in data.split("train") + val if convert] == [str(tmp_path / "photos" / "coffee" / "z.png")]
  assert [os.path.basename(p) for p, _ in data.skipped] == ["notes.jpg"]
  assert "1 file(s) that are no image skipped" in data.describe()
  folders.load.cache_clear()
  assert folders.load(str(tmp_path / "photos"), 0.2) == data           # seeded: the same files again
  other = folders.load(str(tmp_path / "photos"), 0.2, seed=1)
  assert {p for p, _, _ in other.split("validation")} != {p for p, _, _ in val}
  with pytest.raises(ValueError, match="splits .* not 'test'"):
    data.split("test")


def test_folder_with_train_and_validation_takes_them_and_checks_the_classes(tmp_path):
  from official.data import folders  # pylint: disable=import-outside-toplevel
  _folder(tmp_path / "p" / "train", per_class=4)
  _folder(tmp_path / "p" / "validation", per_class=2, seed=1)
  data = folders.load(str(tmp_path / "p"))
  assert (data.count("train"), data.count("validation"), data.held_out) == (12, 6, None)
  assert all(p.startswith(str(tmp_path / "p" / "validation")) for p, _, _ in data.split("validation"))
  os.makedirs(tmp_path / "p" / "validation" / "dog")
  (tmp_path / "p" / "validation" / "dog" / "a.jpg").write_bytes(_photos()[0][0])
  with pytest.raises(ValueError, match="class folder.*'dog'.* lacks"):
    folders.load(str(tmp_path / "p"))
  _folder(tmp_path / "q" / "train", per_class=2)
  with pytest.raises(FileNotFoundError, match="train/ but no validation/"):
    folders.load(str(tmp_path / "q"))
  os.makedirs(tmp_path / "r" / "empty")
  _folder(tmp_path / "r", per_class=2)
  with pytest.raises(FileNotFoundError, match="'empty' .* hold no images"):
    folders.load(str(tmp_path / "r"))
  with pytest.raises(FileNotFoundError, match="does not exist"):
    folders.load(str(tmp_path / "nope"))


def test_folder_source_reads_the_files_with_0_based_labels(tmp_path):
  _folder(tmp_path / "photos", per_class=4)
  png = encode(skimage.data.coffee()[:96, :96], "PNG")
  (tmp_path / "photos" / "coffee" / "z.png").write_bytes(png)   # re-encoded while read
  (tmp_path / "photos" / "coffee" / "cut.jpg").write_bytes(_photos()[0][0][:300])  # decode fails
  cfg = _cfg("", source="folder", image_dir=str(tmp_path / "photos"), validation_fraction=0.25)
  seen = {}
  for split in ("train", "validation"):
    ds = pipeline.build_dataset(cfg, split=split, is_training=False, batch_size=4, num_classes=3)
    seen[split] = sorted(np.concatenate([y.numpy() for _, y in ds]).tolist())
  assert set(seen["validation"]) == {0, 1, 2}
  # 4 + 4 + 6 files: the cut JPEG skipped (its header or its decoding fails), the PNG read.
  assert sorted(seen["train"] + seen["validation"]) == [0] * 4 + [1] * 4 + [2] * 5
  with pytest.raises(tf.errors.InvalidArgumentError, match=r"label 2 of .*coffee.* outside the head of 2"):
    for _ in pipeline.build_dataset(cfg, split="validation", is_training=False, batch_size=4, num_classes=2):
      pass


# ----------------------------------------------------------- truncated TFRecords --
@pytest.fixture()
def cut_dir(tmp_path, imagenet_dir):
  """train: shard 0 whole, shard 1 cut to 2/3 of its bytes (a failed copy)."""
  _, photos = imagenet_dir
  tfrecords.write_tfrecords(photos, str(tmp_path), "train", 2, progress=False)
  path = tmp_path / "train-00001-of-00002"
  data = path.read_bytes()
  path.write_bytes(data[:len(data) * 2 // 3])
  return str(tmp_path), str(path)


def test_truncated_tfrecord_stops_naming_the_file_and_record(cut_dir):
  d, cut = cut_dir
  ds = pipeline.build_dataset(_cfg(d), split="train", is_training=False, batch_size=2,
                              num_classes=NUM_CLASSES)
  with pytest.raises(tf.errors.InvalidArgumentError) as raised:
    for _ in ds:
      pass
  message = pipeline.data_error(raised.value)
  assert message.startswith(f"TFRecord file {cut} is truncated or corrupt: its records from #") and \
      "data.skip_truncated=True" in message and "\n" not in message, message
  read = int(re.search(r"\((\d+) read", message).group(1))
  assert 0 < read < 7                     # 7 of the 15 images are in shard 1
  with pytest.raises(ValueError, match=f"TFRecord file {re.escape(cut)} is truncated"):
    reading.count_records(pipeline.tfrecord_files(d, "train"))


def test_truncated_tfrecord_skipped_when_asked_with_a_warning(cut_dir, capfd):
  d, cut = cut_dir
  ds = pipeline.build_dataset(_cfg(d, skip_truncated=True), split="train", is_training=False,
                              batch_size=2, num_classes=NUM_CLASSES)
  n = sum(int(y.shape[0]) for _, y in ds)
  err = capfd.readouterr().err
  read = int(re.search(r"\((\d+) read", err).group(1))
  assert n == 8 + read                     # shard 0 (8) and what shard 1 still holds
  assert cut in err and "skip_truncated=True" in err and "skipped" not in err.replace("skip_truncated", "")
  assert reading.count_records(pipeline.tfrecord_files(d, "train"), skip_truncated=True)[0] == n
