"""ResNet-RS (Bello et al. 2021) in Keras 3: the official checkpoints of both families, training, export.

The one top-level name the wheel installs. The data flows down this map (a module
imports only from those above it or beside it):

* ``families``: the two official families ("tf1", the ``tensorflow/tpu`` release, and
  "garden", the TF2 Model Garden's): every per-family choice, once.
* ``published``: the eleven published checkpoints (recipe values, URLs, top-1).
* ``validation``: ``check_choice``, the one "must be one of" check.
* ``modeling``: the layers and the ResNet-RS builder (Keras only, every backend).
* ``data``: preprocessing, RandAugment, the TFRecord layout, the tf.data pipelines.
* ``training``: the recipes, config checks, state, step, loop, optimizer rules, schedules, EMA.
* ``checkpoints``: the TF1, Garden and native readers; official names, URLs and the cache.
* ``serving``: SavedModel export, the served model, TensorFlow Lite.
* ``runtime``: strategies, precision and its probe, the workdir's faults, quiet output.
* ``benchmarks``: throughput, op profiles, the peers' scripts.
* ``applications``: keras.applications-style ``ResNetRS50`` ... ``ResNetRS420(weights=...)``.
* ``cli``: the absl CLIs (console scripts ``resnet-rs-*``); ``configs``, once installed: the recipe files.

Importing ``official`` imports nothing else: each subpackage is imported by name.

Example:
    >>> from official import families
    >>> sorted(families.NAMES)
    ['garden', 'tf1']
"""

__all__ = ["applications", "benchmarks", "checkpoints", "cli", "data", "families", "modeling", "published",
           "runtime", "serving", "training", "validation"]
