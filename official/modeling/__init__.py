"""The model: `layers` (fused batch norm, padding, stem, SE, stochastic depth, bottleneck) and
`resnet_rs` (SPECS, the `ResNetRS` builder, ResNetRS50 ... ResNetRS420, family presets,
`fold_batch_norm`, `endpoints`). Keras only: runs on every Keras 3 backend.

Example:
    >>> from official.modeling import resnet_rs
    >>> resnet_rs.SPECS[50]
    (3, 4, 6, 3)
"""

__all__ = ["layers", "resnet_rs"]
