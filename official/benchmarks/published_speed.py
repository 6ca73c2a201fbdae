"""Published speed and accuracy numbers the benchmarks print beside their own.

Two tables, each from one source, read by tools/gpu_benchmark.py and the speed-accuracy
Pareto of tools/benchmark.py (official/benchmarks/pareto.py). Standard library only:
the GPU benchmark imports it on machines without TensorFlow.

- OFFICIAL_TRAIN_LATENCY: the training-step latency of every published ResNet-RS in
  the tensorflow/tpu ResNet-RS README (numbers unchanged since March 2021): V100 in
  float32, seconds per step, and TPUv3 in bfloat16, milliseconds per step, each at an
  initial batch of 128 halved until it fits.
- EFFICIENTNET: EfficientNet-B0..B7 at their published resolutions with their ImageNet
  top-1 (Tan & Le 2019, "EfficientNet: Rethinking Model Scaling for Convolutional
  Neural Networks", arXiv:1905.11946 v5, Table 2; the same numbers as the
  tensorflow/tpu EfficientNet README's AutoAugment checkpoints).

The ResNet-RS paper (Bello et al. 2021, "Revisiting ResNets") states that at similar
accuracy ResNet-RS trains 1.7x-2.7x faster than EfficientNet on TPUs (its abstract) and
2.1x-3.3x faster on GPUs (PAPER_SPEEDUP).

Example:
    >>> OFFICIAL_TRAIN_LATENCY["resnet-rs-50-i160"]
    {'v100_fp32_s': 0.31, 'tpuv3_bf16_ms': 70}
    >>> EFFICIENTNET["B3"]
    (300, 81.6)
"""

from official import published

# Checkpoint name -> official training-step latencies (tensorflow/tpu ResNet-RS README).
OFFICIAL_TRAIN_LATENCY = {
    name: {"v100_fp32_s": v100, "tpuv3_bf16_ms": tpu} for name, v100, tpu in [
        ("resnet-rs-50-i160", 0.31, 70),
        ("resnet-rs-101-i160", 0.48, 120),
        ("resnet-rs-101-i192", 0.70, 170),
        ("resnet-rs-152-i192", 0.99, 240),
        ("resnet-rs-152-i224", 1.48, 320),
        ("resnet-rs-152-i256", 1.76, 410),
        ("resnet-rs-200-i256", 2.86, 570),
        ("resnet-rs-270-i256", 3.76, 780),
        ("resnet-rs-350-i256", 4.72, 1100),
        ("resnet-rs-350-i320", 8.48, 1630),
        ("resnet-rs-420-i320", 10.16, 2090),
    ]}
assert set(OFFICIAL_TRAIN_LATENCY) == set(published.NAMES)   # one row per published checkpoint

# The batch the official latencies start from (halved until the step fits in memory).
OFFICIAL_BATCH = 128

# Variant -> (published resolution, published top-1 %), Tan & Le 2019 (arXiv v5), Table 2.
EFFICIENTNET = {
    "B0": (224, 77.1), "B1": (240, 79.1), "B2": (260, 80.1), "B3": (300, 81.6),
    "B4": (380, 82.9), "B5": (456, 83.6), "B6": (528, 84.0), "B7": (600, 84.3),
}

# ResNet-RS's training speed-up over EfficientNet at similar top-1, as the paper states it.
PAPER_SPEEDUP = {"TPU": (1.7, 2.7), "GPU": (2.1, 3.3)}


def official_latency(depth, image_size):
    """The official latencies of the published (depth, image_size), or None if unpublished.

    Example:
        >>> official_latency(152, 256)["tpuv3_bf16_ms"]
        410
    """
    return OFFICIAL_TRAIN_LATENCY.get(f"resnet-rs-{depth}-i{image_size}")
