"""The data: `preprocessing` (train/eval/serving, both families), `randaugment` (the paper's 16 ops),
`tfrecords` (the official TFRecord layout: keys, writer, ImageNet readers), `pipeline`
(`build_dataset`: tf.data from TFRecords, TFDS or synthetic data), `labels` (head columns,
class names), `demo_data` (the digits demo, sample photographs), `imagenet_classes`.

Example:
    >>> from official.data import imagenet_classes
    >>> imagenet_classes.synsets()[0]
    'n01440764'
"""

__all__ = ["demo_data", "imagenet_classes", "labels", "pipeline", "preprocessing", "randaugment", "tfrecords"]
