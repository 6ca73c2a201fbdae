"""Is bfloat16 faster than float32 on this machine? A one-second measurement, cached per machine.

CPU flags do not say: a Xeon with AVX512-BF16 flags ran TensorFlow's bfloat16 matrix
product at 0.57x its float32, while an AMD EPYC with the same flag ran ResNet-RS 1.5x
faster in bfloat16. So the project measures instead of reading flags: `probe` times
the convolutions a ResNet-RS bottleneck is made of (a 1x1 and a 3x3, forward, each
with a batch norm's scale-shift and ReLU) in both
dtypes, interleaved, for about a second. The result is cached per machine (CPU model and
flags, TensorFlow version, oneDNN setting, thread count) in
`$XDG_CACHE_HOME/resnet_rs/precision_probe.json` (or `~/.cache/...`;
`RESNET_RS_CACHE_DIR` overrides the folder), so only the first run on a machine pays.

`choose` picks bfloat16 only where it measured at least `MIN_SPEEDUP` times float32's
speed: the convolutions are where bfloat16 can gain; the element-wise ops around them
gain less, so a marginal probe win would be a loss in the whole step.

Example (`measure()` probes this machine, ~1 s, and caches the result per machine; the
numbers here are those of a 2-core AMD EPYC Zen 3 with AVX2, oneDNN on):
    >>> m = measure(lambda: (11.9, 12.5), path="probe.json")
    >>> choose(m)
    'float32'
    >>> describe(m)
    'bfloat16 convolutions measured at 1.05x float32 here (12.5 against 11.9 GFLOP/s)'
"""

import collections
import hashlib
import json
import os
import statistics
import time

from absl import logging

# Below this ratio bfloat16 is not worth its rounding: the probe's convolutions gain more
# than a whole training step, and timings on a shared machine move by ~5%.
MIN_SPEEDUP = 1.15
CACHE_VERSION = 1

Measurement = collections.namedtuple(
    "Measurement", "speedup float32_gflops bfloat16_gflops cached key")


def machine_key():
    """What the speed of bfloat16 depends on: CPU model and flags, TF, oneDNN, threads."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    model, flags = "unknown", ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                name, _, value = line.partition(":")
                if name.strip() == "model name" and model == "unknown":
                    model = value.strip()
                elif name.strip() == "flags" and not flags:
                    flags = " ".join(sorted(value.split()))
    except OSError:
        import platform  # pylint: disable=g-import-not-at-top
        model = platform.processor() or platform.machine()
    threads = tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()
    parts = [model, hashlib.sha1(flags.encode()).hexdigest()[:12], f"tf{tf.__version__}",
             f"onednn={os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'default')}", f"threads={threads}"]
    return " | ".join(parts)


def cache_file():
    """The per-user cache of measurements (the folder is created on first write)."""
    folder = os.environ.get("RESNET_RS_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "resnet_rs")
    return os.path.join(folder, "precision_probe.json")


def probe(seconds=1.0, batch=8, size=40):
    """Times a bottleneck's 1x1 and 3x3 convolutions (+ scale, shift, ReLU) in float32 and bfloat16.

    The two dtypes alternate, one call each per round, so that a noisy neighbour slows
    both alike; each gets the median of its rounds.

    Args:
        seconds: the rough total time of the measurement (after one warm-up call each).
        batch, size: the input of the convolutions, [batch, size, size, 256] -> 64 -> 64.

    Returns:
        (float32 GFLOP/s, bfloat16 GFLOP/s).
    """
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    rng = tf.random.Generator.from_seed(0)
    x32 = rng.normal((batch, size, size, 256))
    w1_32, w3_32 = rng.normal((1, 1, 256, 64)) * 0.05, rng.normal((3, 3, 64, 64)) * 0.05
    flop = 2 * batch * size * size * 64 * (256 + 9 * 64)

    @tf.function(jit_compile=False, reduce_retracing=True)
    def convs(x, w1, w3):
        # Each convolution with the scale, shift and ReLU of an inference-mode batch norm:
        # where bfloat16 is emulated, these element-wise passes are what it loses on.
        y = tf.nn.relu(tf.nn.conv2d(x, w1, 1, "SAME") * 0.5 + 0.1)
        y = tf.nn.relu(tf.nn.conv2d(y, w3, 1, "SAME") * 0.5 + 0.1)
        return tf.reduce_sum(tf.cast(y, tf.float32))

    args = {"float32": (x32, w1_32, w3_32),
            "bfloat16": tuple(tf.cast(t, tf.bfloat16) for t in (x32, w1_32, w3_32))}
    times = {k: [] for k in args}
    for k, a in args.items():
        convs(*a).numpy()                          # trace + oneDNN primitive creation
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(times["float32"]) < 3:
        for k, a in args.items():
            start = time.perf_counter()
            convs(*a).numpy()
            times[k].append(time.perf_counter() - start)
    return tuple(flop / statistics.median(times[k]) / 1e9 for k in ("float32", "bfloat16"))


def _read(path):
    try:
        with open(path) as f:
            table = json.load(f)
        return table if table.get("version") == CACHE_VERSION else {"version": CACHE_VERSION}
    except (OSError, ValueError, AttributeError):
        return {"version": CACHE_VERSION}


def measure(probe_fn=probe, path=None, refresh=False, key=None):
    """bfloat16's measured speed against float32 here, from the cache or from `probe_fn`.

    Args:
        probe_fn: returns (float32 GFLOP/s, bfloat16 GFLOP/s); `probe` unless testing the
            decision with a known answer.
        path: the cache file (`cache_file()` by default); an unwritable one only means the
            next run measures again.
        refresh: measure even when the cache has this machine.
        key: the machine's cache key (`machine_key()` by default).

    Returns:
        Measurement(speedup, float32_gflops, bfloat16_gflops, cached, key).
    """
    path = path or cache_file()
    key = key or machine_key()
    table = _read(path)
    entry = table.get("machines", {}).get(key)
    if entry and not refresh:
        return Measurement(entry["bfloat16_gflops"] / entry["float32_gflops"],
                           entry["float32_gflops"], entry["bfloat16_gflops"], True, key)
    f32, bf16 = (float(v) for v in probe_fn())
    if not (f32 > 0 and bf16 > 0):
        raise ValueError(f"precision probe returned non-positive speeds: float32 {f32}, bfloat16 {bf16}")
    table.setdefault("machines", {})[key] = dict(
        float32_gflops=round(f32, 3), bfloat16_gflops=round(bf16, 3),
        measured=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(table, f, indent=1, sort_keys=True)
        os.replace(tmp, path)        # atomic: a concurrent reader sees the old or the new table
    except OSError as e:
        logging.warning("precision probe: could not cache the measurement in %s (%s)", path, e)
    return Measurement(bf16 / f32, f32, bf16, False, key)


def choose(measurement, min_speedup=MIN_SPEEDUP):
    """"bfloat16" where it measured at least `min_speedup` times float32's speed, else "float32"."""
    return "bfloat16" if measurement.speedup >= min_speedup else "float32"


def describe(m):
    """One line saying what was measured, for logs and CLI output."""
    # Short: the trainer logs it inside one line, which must stay readable (< 200 characters).
    return (f"bfloat16 convolutions measured at {m.speedup:.2f}x float32 here "
            f"({m.bfloat16_gflops:.1f} against {m.float32_gflops:.1f} GFLOP/s"
            f"{', cached' if m.cached else ''})")


def auto_precision(probe_fn=probe, path=None, log=None):
    """The CPU precision `auto` stands for: measured (or cached), chosen, and logged.

    Example:
        >>> auto_precision(lambda: (11.9, 12.5), path="probe.json", log=lambda fmt, *a: print(fmt % a))
        precision auto: float32 (bfloat16 convolutions measured at 1.05x float32 here
        (12.5 against 11.9 GFLOP/s); needs 1.15x)
        'float32'
    """
    m = measure(probe_fn, path)
    choice = choose(m)
    (log or logging.info)("precision auto: %s (%s; needs %.2fx)", choice, describe(m), MIN_SPEEDUP)
    return choice


def resolve(precision, probe_fn=probe, path=None, log=None):
    """`precision` itself, or for "auto" the measured choice of this CPU (`auto_precision`).

    Example:
        >>> resolve("float32"), resolve("auto", lambda: (11.9, 12.5), path="probe.json", log=lambda *a: None)
        ('float32', 'float32')
    """
    return auto_precision(probe_fn, path, log) if precision == "auto" else precision


if __name__ == "__main__":
    # python -m official.runtime.precision_probe [--refresh]: measure and print.
    import sys  # pylint: disable=g-import-not-at-top
    result = measure(refresh="--refresh" in sys.argv)
    print(f"{describe(result)}: auto picks {choose(result)}  [{cache_file()}]")
