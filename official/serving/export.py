"""SavedModel export for TF Serving: image bytes in, ImageNet predictions out.

The exported functions wrap decode + the family's eval preprocessing
(``official/data/preprocessing.py``, the same code the input pipeline uses) +
normalisation + the model, so a client sends encoded images and nothing else.

Signatures:

* ``serving_default(image_bytes: tf.string [N])``: JPEG/PNG/GIF/BMP bytes of any
  size. "tf1": centre crop S/(S+P) of the short side with the official offset,
  cropped while decoding JPEGs, TF1 legacy bicubic resize (docs/fidelity.md);
  "garden": the Garden's eval path, 0.875 crop and TF2 bilinear;
  "garden_serving": the Garden's serving SavedModel (decode the whole image, the
  0.875 centre slice, bilinear, a truncating uint8 cast), for users replacing one.
  Bytes that cannot be decoded fail that request with INVALID_ARGUMENT.
* ``serve_images(images: tf.uint8 [N, H, W, 3])``: already decoded images, same
  crop and resize (slice instead of decode-and-crop).

Both return ``logits`` [N, 1000] float32, ``probabilities`` [N, 1000], ``classes``
[N, 5] int32 (sorted-synset label ids), ``scores`` [N, 5] and ``class_names``
[N, 5] strings. ``assets.extra/tf_serving_warmup_requests`` holds warm-up
PredictionLogs for both signatures; ``assets.extra/resnet_rs.json`` the
preprocessing settings (and, for an official checkpoint, its name and published
top-1 from official/published.py).

Example:
    >>> from official.checkpoints import readers
    >>> model = readers.load("resnet-rs-50-i160", format="tf1")   # downloads 0.3 GB once  # doctest: +SKIP
    >>> export_saved_model(model, "rs50/1", image_size=160)  # doctest: +SKIP
"""

import contextlib
import json
import logging as py_logging
import os
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from official import families
from official.data import imagenet_classes
from official.serving import inference
from official.runtime import precision
from official import published
from official.data import preprocessing as preprocessing_lib  # `preprocessing` is an argument name
from official.modeling import normalization
from official.runtime import workdir
from official.validation import check_choice

TOP_K = 5
# "tf1", "garden": each family's eval path (what the published accuracies were measured
# with); GARDEN_SERVING: what the Model Garden's own serving SavedModel does.
GARDEN_SERVING = "garden_serving"
PREPROCESSINGS = ("tf1", "garden", GARDEN_SERVING)
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
METADATA_FILE = os.path.join("assets.extra", "resnet_rs.json")


def serving_functions(model, image_size, preprocessing="tf1", crop_padding=families.TF1_CROP_PADDING,
                      class_names=None,
                      batch_splits=inference.DEFAULT_BATCH_SPLITS, fold_batch_norm=None):
    """The two serving tf.functions, for export or in-process use (tools/predict.py).

    `batch_splits`: requests of at least this many images run as that many slices side
    by side (official/serving/inference.py: same logits up to rounding, 1.2x images/s on 2 CPU cores; 1 for
    GPU serving, where one large batch is best). `fold_batch_norm`: as
    `official.serving.inference.serving_model`'s (None: fold below float32 only).

    Returns:
        dict name -> tf.function: "serving_default" (image_bytes) and "serve_images" (images).

    Example:
        >>> from official.modeling import resnet_rs
        >>> model = resnet_rs.ResNetRS(50, block_counts=(1, 1, 1, 1))   # the small model
        >>> fns = serving_functions(model, 64)
        >>> jpeg_bytes = tf.io.encode_jpeg(tf.zeros([80, 100, 3], tf.uint8))
        >>> fns["serving_default"](tf.stack([jpeg_bytes]))["classes"].shape
        TensorShape([1, 5])
    """
    family = preprocessing
    model = inference.serving_model(model, fold_batch_norm)
    class_names = class_names if class_names is not None else getattr(model, "class_names", None)  # recorded
    class_names = tf.constant(_class_names(model, image_size, family, class_names))
    top_k = min(TOP_K, int(class_names.shape[0]))
    size = int(image_size)
    # include_preprocessing=True: the model normalises 0..255 pixels itself.
    normalizes_inside = any(layer.name == "preprocessing" for layer in model.layers)
    network = inference.traced_call(model, (size, size, 3))   # one trace for both signatures

    def predict(images):
        if not normalizes_inside:
            images = normalization.normalize(images)
        logits = tf.cast(inference.logits(model, images, batch_splits, call=network), tf.float32)
        probabilities = tf.nn.softmax(logits)
        top = tf.math.top_k(probabilities, top_k)
        return {"logits": logits, "probabilities": probabilities, "classes": top.indices,
                "scores": top.values, "class_names": tf.gather(class_names, top.indices)}

    if family == GARDEN_SERVING:
        from_bytes = lambda b: preprocessing_lib.preprocess_for_garden_serving(b, size)
        from_pixels = lambda im: preprocessing_lib.preprocess_image_for_garden_serving(im, size)
    else:
        from_bytes = lambda b: preprocessing_lib.preprocess_for_eval(b, size, family, crop_padding)
        from_pixels = lambda im: preprocessing_lib.preprocess_image_for_eval(im, size, family, crop_padding)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def serving_default(image_bytes):
        images = tf.map_fn(from_bytes, image_bytes, fn_output_signature=tf.TensorSpec([size, size, 3], tf.float32))
        return predict(images)

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")])
    def serve_images(images):
        images = tf.map_fn(from_pixels, images, fn_output_signature=tf.TensorSpec([size, size, 3], tf.float32))
        return predict(images)

    return {"serving_default": serving_default, "serve_images": serve_images}



def _class_names(model, image_size, family, class_names):
    """Checks the arguments; the names of the model's classes.

    A 1000-logit head speaks ImageNet's sorted-synset classes (names shipped in
    official/data/imagenet_classes.txt); any other head (a fine-tuned or demo model) gets
    `class_names` or, by default, its class indices as strings.
    """
    check_choice("preprocessing", family, PREPROCESSINGS)
    if not isinstance(image_size, (int, np.integer)) or not 32 <= int(image_size) <= 4096:
        raise ValueError(f"image_size must be an integer in [32, 4096], got {image_size!r}")
    if not any(layer.name == "logits" for layer in model.layers):
        raise ValueError("the model has no 'logits' output: export a model built with include_top=True")
    classes = model.get_layer("logits").units
    if class_names is None:
        if classes == 1001:
            raise ValueError("the model has 1001 logits (the Garden's background column 0 included); "
                             "load Garden checkpoints with official.checkpoints.readers, which drops it, or "
                             "pass class_names for all 1001")
        return imagenet_classes.names() if classes == 1000 else [str(i) for i in range(classes)]
    class_names = [str(n) for n in class_names]
    if len(class_names) != classes:
        raise ValueError(f"class_names has {len(class_names)} entries but the model has {classes} logits")
    return class_names


def _warmup_image():
    """A small JPEG (a colour gradient) for the warm-up requests."""
    y, x = np.mgrid[0:96, 0:128]
    image = np.stack([x * 2, y * 2, (x + y)], axis=-1).astype(np.uint8)
    return image, tf.io.encode_jpeg(image).numpy()


def write_warmup(export_dir):
    """Writes ``assets.extra/tf_serving_warmup_requests``: one PredictionLog per signature."""
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    image, jpeg = _warmup_image()
    requests = [("serving_default", "image_bytes", tf.make_tensor_proto([jpeg], dtype=tf.string)),
                ("serve_images", "images", tf.make_tensor_proto(image[None]))]
    path = os.path.join(export_dir, WARMUP_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for signature, key, tensor in requests:
            request = predict_pb2.PredictRequest()
            request.model_spec.signature_name = signature
            request.inputs[key].CopyFrom(tensor)
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
    return path


class _CapturedInputNames(py_logging.Filter):
    """Drops TensorFlow's "contains input name(s) ... will be renamed" INFO record.

    Each signature captures every model variable through ``tf.map_fn``; TensorFlow lists
    all their generated names (input_1 ... cond_input_118: ~10,000 characters) to say it
    renames them. They are not inputs a client sends, so the line says nothing.
    """

    def filter(self, record):
        return "contains input name(s)" not in str(record.msg)


@contextlib.contextmanager
def _without_captured_input_names():
    # TensorFlow logs it through absl's logger.
    logger, quiet = py_logging.getLogger("absl"), _CapturedInputNames()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


def export_saved_model(model: keras.Model, export_dir: str | os.PathLike, image_size: int,
                       preprocessing: str = "tf1", crop_padding: int = families.TF1_CROP_PADDING,
                       warmup: bool = True, class_names: Sequence[str] | None = None,
                       batch_splits: int = inference.DEFAULT_BATCH_SPLITS,
                       published_name: str | None = None, fold_batch_norm: bool | None = None) -> str:
    """Exports ``model`` (normalised images in, logits or probabilities out) as a SavedModel.

    The model is written to a hidden sibling directory (``.NAME.partial-PID``) and
    renamed into place, so a failed export (full disk) or a crashed one (SIGKILL)
    leaves a previous export at ``export_dir`` intact; the next export removes a
    crashed one's partial directory (official/runtime/workdir.py `replacing_dir`).

    Args:
        model: a ResNet-RS Keras model with a head (1000 ImageNet classes, or any
            number with `class_names`), holding the weights
            to serve (the moving averages: official.checkpoints.readers loads those). Served
            in the precision it was built in (official/runtime/precision.py; recorded in
            assets.extra/resnet_rs.json), with its batch norms folded into the
            convolutions below float32 (official/serving/inference.py `serving_model`).
        export_dir: the SavedModel directory (for TF Serving: .../model_name/VERSION).
        image_size: the side S the model sees (the checkpoint's training
            resolution reproduces the published accuracies).
        preprocessing: "tf1" or "garden", the eval path of the family the weights were
            evaluated with, or "garden_serving", the Garden serving SavedModel's path.
        crop_padding: P of the tf1 centre crop (32 as in the published results,).
        warmup: write TF Serving warm-up records.
        class_names: names of the logits' classes; default: the ImageNet names for a
            1000-class head, the class indices for any other (fine-tuned) head.
        batch_splits: slices a request's batch runs as (official/serving/inference.py);
            1 for GPU serving.
        published_name: the official checkpoint the weights are (official/published.py),
            recorded in the metadata with its published top-1 in this family.
        fold_batch_norm: fold the batch norms into the convolutions: None (default)
            below float32 only; True also in float32 (faster on CPUs, logits moved by
            float rounding: official/serving/inference.py `serving_model`); False never.

    Returns:
        export_dir.

    Raises:
        official.runtime.workdir.WriteError: the storage refused a write (full disk, ...):
            the message names the path, the free space and the size needed.
    """
    entry = published.get(published_name) if published_name else None
    model = inference.serving_model(model, fold_batch_norm)    # the model the functions call, tracked below
    class_names = class_names if class_names is not None else getattr(model, "class_names", None)  # recorded
    functions = serving_functions(model, image_size, preprocessing, crop_padding, class_names, batch_splits,
                                  fold_batch_norm)
    num_classes = model.get_layer("logits").units
    export_dir = os.path.abspath(os.fspath(export_dir))
    # A previous export's size, else the weights' (the graph is small beside them).
    needed = (workdir.dir_bytes(export_dir)
              or sum(int(np.prod(w.shape)) * tf.as_dtype(w.dtype).size for w in model.weights))
    with workdir.replacing_dir(export_dir, "the SavedModel", needed) as staging:
        # The root holds the weights and the functions, not the Keras layers: walking
        # RS-50's layer tree took about half of an export's time, and serving needs
        # only what the signatures capture.
        root = tf.Module()
        captured = {}
        for fn in functions.values():
            captured.update({id(v): v for v in fn.get_concrete_function().variables})
        root.captured_variables = list(captured.values())
        for name, fn in functions.items():
            setattr(root, name, fn)
        logging.info("writing SavedModel (%s preprocessing, %dx%d) to %s", preprocessing, image_size,
                     image_size, export_dir)
        with _without_captured_input_names():
            tf.saved_model.save(root, staging, signatures=functions)
        if warmup:
            write_warmup(staging)
        os.makedirs(os.path.join(staging, os.path.dirname(METADATA_FILE)), exist_ok=True)  # warmup=False
        metadata = {"image_size": int(image_size), "preprocessing": preprocessing,
                    "crop_padding": int(crop_padding), "batch_splits": int(batch_splits),
                    "precision": precision.of(model),
                    "batch_norm_folded": not any(isinstance(layer, keras.layers.BatchNormalization)
                                                 for layer in model.layers),
                    "classes": "imagenet-1k sorted synsets" if num_classes == 1000 and class_names is None
                    else f"{num_classes} classes"}
        if entry is not None:
            metadata["published"] = {"name": entry.name, "top1": entry.top1.get(preprocessing)}
        with open(os.path.join(staging, METADATA_FILE), "w") as f:
            json.dump(metadata, f)
    return export_dir


def read_metadata(export_dir):
    """The preprocessing settings an export was written with (None for other SavedModels)."""
    path = os.path.join(export_dir, METADATA_FILE)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)
