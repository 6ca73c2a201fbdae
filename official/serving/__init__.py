"""Serving: `export` (SavedModel for TF Serving, image-bytes and image signatures, warm-up
records), `inference` (the sliced inference call, the served model with batch norm folded),
`tflite` (a float32 TensorFlow Lite file).

Example:
    >>> from official.serving import export
    >>> export.PREPROCESSINGS
    ('tf1', 'garden', 'garden_serving')
"""

__all__ = ["export", "inference", "tflite"]
