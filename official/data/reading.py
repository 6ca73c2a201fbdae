"""Reading TFRecord files so that a file cut short (or corrupt) is noticed and named.

`tf.data.TFRecordDataset` stops a file at the first record it cannot read and raises a
DataLossError whose message names no file; under `ignore_errors` (how the pipeline skips
undecodable images) the rest of the file would silently pass for one skipped record.
`read_checked` reads each file on its own, compares the bytes of the records read with
the file's size, and appends one marker element to a file read short, which
official/data/pipeline.py turns into an error (or, with data.skip_truncated, a warning).

Example (ten records with labels 1..3 in two shards, then one shard cut short):
    >>> from official.data import tfrecords
    >>> jpeg = tf.io.encode_jpeg(tf.zeros([8, 8, 3], tf.uint8)).numpy()
    >>> files = tfrecords.write_tfrecords([(jpeg, 1 + i % 3, "", f"{i}.jpg") for i in range(10)],
    ...                                   "data", "train", num_shards=2, progress=False)
    >>> count_records(files)                # (records, largest stored label)
    (10, 3)
    >>> with open(files[1], "r+b") as f:    # as a failed copy leaves it: 2 of its 5 records whole
    ...     _ = f.truncate(2000)
    >>> count_records(files)
    Traceback (most recent call last):
    ValueError: TFRecord file data/train-00001-of-00002 is truncated or corrupt: its records from #3 on ...
    >>> count_records(files, skip_truncated=True)    # logs it and counts what is readable
    (7, 3)
"""

import concurrent.futures

from absl import logging
import tensorflow as tf

from official.data.tfrecords import LABEL_KEY

# What a TFRecord adds around each record: the length (8 bytes), its CRC and the data's CRC (4 each).
RECORD_FRAMING = 16
# Element status: a record, or the marker after a file that could not be read to its end.
RECORD, CUT_FILE = 0, 1


def file_sizes(files):
    """Byte sizes of `files` (threads: one round trip each on gs://)."""
    with concurrent.futures.ThreadPoolExecutor(min(32, len(files))) as pool:
        return list(pool.map(lambda f: tf.io.gfile.stat(f).length, files))


def read_checked(path, size):
    """The records of one TFRecord file, then one marker element if the file ended early.

    TFRecordDataset stops a file at the first record it cannot read (a cut or corrupt
    file) and raises DataLossError, whose message names no file; it is caught here
    (ignore_errors on this file's reader alone, which moves on to the end of the file)
    and the bytes read are compared with the file's size instead. Elements:
    (record, status, note): status RECORD, or CUT_FILE with the note naming the
    file, the first record lost and the bytes behind it.
    """
    records = tf.data.TFRecordDataset(path, buffer_size=8 << 20).ignore_errors()
    records = records.map(tf.autograph.experimental.do_not_convert(lambda r: (r, tf.constant(False))))
    end = tf.data.Dataset.from_tensors((tf.constant(b""), tf.constant(True)))

    @tf.autograph.experimental.do_not_convert
    def account(state, element):
        count, consumed = state
        record, is_end = element
        length = tf.cast(tf.strings.length(record), tf.int64) + RECORD_FRAMING
        state = (count + tf.cast(~is_end, tf.int64),
                 consumed + tf.where(is_end, tf.constant(0, tf.int64), length))
        cut = is_end & (consumed < size)
        # How many images the lost bytes held is unknown (a cut file lost its tail too).
        note = tf.strings.join([
            "TFRecord file ", path, " is truncated or corrupt: its records from #",
            tf.strings.as_string(count + 1), " on cannot be read (", tf.strings.as_string(count),
            " read, up to byte ", tf.strings.as_string(consumed), " of ", tf.strings.as_string(size),
            "), so their images are lost"])
        status = tf.where(cut, CUT_FILE, RECORD)
        keep = ~is_end | cut
        return state, (record, status, tf.where(cut, note, ""), keep)

    @tf.autograph.experimental.do_not_convert
    def kept(record, status, note, keep):
        del record, status, note
        return keep

    @tf.autograph.experimental.do_not_convert
    def without_keep(record, status, note, keep):
        del keep
        return record, status, note

    ds = records.concatenate(end).scan((tf.constant(0, tf.int64), tf.constant(0, tf.int64)), account)
    return ds.filter(kept).map(without_keep)


def stand_in_jpeg():
    """A valid 8x8 JPEG (bytes, encoded once): the image of a marker element, dropped after decoding."""
    with tf.init_scope():    # eager even where a dataset function is traced
        return tf.io.encode_jpeg(tf.zeros([8, 8, 3], tf.uint8)).numpy()


def count_records(files, skip_truncated=False):
    """(records, largest stored label) of TFRecord `files`, reading labels only.

    Raises:
        ValueError: a file is truncated or corrupt (the message names it and the record),
            unless `skip_truncated` (then logged; the readable records count).
    """
    total, largest = 0, -1
    spec = {LABEL_KEY: tf.io.FixedLenFeature([], tf.int64, default_value=-1)}
    for path, size in zip(files, file_sizes(files)):
        ds = read_checked(tf.constant(path), tf.constant(size, tf.int64)).batch(1024)
        for records, status, notes in ds:
            cut = status.numpy() == CUT_FILE
            if cut.any():
                note = notes.numpy()[cut.argmax()].decode()
                if not skip_truncated:
                    raise ValueError(note + "; copy or write the file again, or set "
                                     "data.skip_truncated=True to go on without them")
                logging.warning("%s (data.skip_truncated=True: not counted)", note)
                records = tf.boolean_mask(records, ~cut)
            labels = tf.io.parse_example(records, spec)[LABEL_KEY].numpy()
            total += len(labels)
            largest = max([largest] + labels.tolist())
    return total, largest
