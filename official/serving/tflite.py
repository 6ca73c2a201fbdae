"""TensorFlow Lite export: the network on preprocessed images, as the Model Garden's TFLite export.

TFLite has no image decoding among its built-in ops, so the `.tflite` file holds the
network only (the Garden's `tflite` input type skips its preprocessing the same way):
it takes float32 [1, S, S, 3] images, either already preprocessed and normalised
(`official.data.preprocessing.preprocess_for_eval` then `normalize`, as the SavedModel
does inside) or, for a model built with `include_preprocessing=True`, preprocessed
0..255 pixels; it returns the [1, classes] float32 logits. Float32 weights, no
quantisation: the logits are the SavedModel's within float rounding.

Example:
    >>> export_tflite(model, "rs50.tflite", image_size=160)   # converts RS-50 (~1 min)  # doctest: +SKIP
    >>> interpreter = tf.lite.Interpreter("rs50.tflite")  # doctest: +SKIP
"""

import os
import tempfile

import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from official.serving import inference


def convert(model, image_size, batch_size=1):
    """The .tflite flatbuffer (bytes) of `model`'s logits on [batch_size, S, S, 3] float32 images."""
    served = inference.serving_model(model)
    size = int(image_size)

    @tf.function(input_signature=[tf.TensorSpec([batch_size, size, size, 3], tf.float32, name="images")])
    def logits(images):
        return {"logits": tf.cast(served(images, training=False), tf.float32)}

    # The variables frozen into constants first: converted as they are, they stay resource
    # variables, which the interpreter reads uninitialised (NaN logits).
    frozen = convert_variables_to_constants_v2(logits.get_concrete_function())
    return tf.lite.TFLiteConverter.from_concrete_functions([frozen]).convert()


def export_tflite(model, path, image_size, batch_size=1):
    """Writes `convert(model, image_size)` to `path` (via a temporary file: no half-written model).

    Returns:
        path.
    """
    flatbuffer = convert(model, image_size, batch_size)
    path = os.path.abspath(os.fspath(path))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}-", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(flatbuffer)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def run(path, images):
    """The logits of a .tflite file on float32 images [N, S, S, 3], one image per call.

    Example:
        >>> run("rs50.tflite", normalised_images).shape   # N images  # doctest: +SKIP
        (N, 1000)
    """
    interpreter = tf.lite.Interpreter(model_path=os.fspath(path))
    interpreter.allocate_tensors()
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    batch = int(inp["shape"][0])
    results = []
    for start in range(0, len(images), batch):
        interpreter.set_tensor(inp["index"], tf.cast(images[start:start + batch], tf.float32).numpy())
        interpreter.invoke()
        results.append(interpreter.get_tensor(out["index"]).copy())
    return tf.concat(results, 0).numpy()
