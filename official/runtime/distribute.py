"""`tf.distribute` strategies from a name, from one CPU to TPU pods.

Names: "tpu" | "multi_worker_mirrored" | "mirrored" | "one_device" | "auto".
"auto" picks by what exists: TF_CONFIG set -> multi_worker_mirrored; several GPUs ->
mirrored; one GPU -> one_device on it; otherwise one_device on the CPU. Bad input (an
unreachable TPU, a malformed TF_CONFIG, a global batch that does not split over the
replicas) raises a ValueError naming it, before any work starts.

TensorFlow is imported only when a strategy is made or inspected: the CLIs define
`--strategy` from STRATEGIES and check every flag before the seconds-long import.

Example:
    >>> strategy = make_strategy("one_device")
    >>> per_replica_batch_size(64, strategy)
    64
"""

import json
import os
import socket

from official.validation import check_choice

STRATEGIES = ("auto", "tpu", "multi_worker_mirrored", "mirrored", "one_device")


def configure_logical_cpus(count):
    """Split the host CPU into `count` logical devices (tests, CPU-only mirrored runs).

    Must run before TensorFlow initialises its runtime; returns False (and changes
    nothing) when that already happened and the CPU count differs.
    """
    import tensorflow as tf  # pylint: disable=g-import-not-at-top  (see the module docstring)
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(count)])
    except RuntimeError:
        return len(tf.config.list_logical_devices("CPU")) >= count
    return True


def parse_tf_config(text=None):
    """The TF_CONFIG of a multi-worker run, checked; raises ValueError naming the problem."""
    text = os.environ.get("TF_CONFIG", "") if text is None else text
    if not text:
        raise ValueError("--strategy=multi_worker_mirrored needs the TF_CONFIG environment variable "
                         "(JSON with 'cluster' and 'task'); it is not set")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"TF_CONFIG is not valid JSON ({e}): {text[:200]!r}") from None
    cluster, task = config.get("cluster"), config.get("task")
    if not isinstance(cluster, dict) or not cluster:
        raise ValueError(f"TF_CONFIG has no 'cluster' dict: {text[:200]!r}")
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise ValueError(f"TF_CONFIG 'task' must be {{'type': ..., 'index': ...}}: {text[:200]!r}")
    members = cluster.get(task["type"])
    if not isinstance(members, list) or not 0 <= int(task["index"]) < len(members):
        raise ValueError(f"TF_CONFIG task {task} is not in cluster {cluster}")
    for job, addresses in cluster.items():
        for address in addresses if isinstance(addresses, list) else [addresses]:
            host, _, port = str(address).rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"TF_CONFIG cluster '{job}' address {address!r} is not host:port")
    return config


def _check_reachable(address, timeout_s=10.0):
    """TF waits forever on a dead grpc:// TPU address; a plain TCP connect fails fast."""
    host, _, port = address.replace("grpc://", "").rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except (OSError, ValueError) as e:
        raise ValueError(f"--strategy=tpu: cannot reach TPU --tpu={address!r} ({e})") from None


def _tpu_strategy(tpu):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top  (see the module docstring)
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "")
        master = resolver.master()
        if master.startswith("grpc://"):
            _check_reachable(master)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as e:
        raise ValueError(f"--strategy=tpu: cannot reach TPU --tpu={tpu!r}: "
                         f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else e}") from None
    return tf.distribute.TPUStrategy(resolver)


def make_strategy(name="auto", tpu=None, num_logical_cpus=0):
    """A strategy by name (see the module docstring).

    Args:
        name: one of STRATEGIES.
        tpu: TPU name or grpc:// address for "tpu" ("local" on a TPU VM).
        num_logical_cpus: for "mirrored" on a CPU-only host, split the CPU into this
            many logical devices (must be called before TF's runtime starts).
    """
    check_choice("--strategy", name, STRATEGIES)
    import tensorflow as tf  # pylint: disable=g-import-not-at-top  (see the module docstring)
    gpus = tf.config.list_physical_devices("GPU")
    if name == "auto":
        if os.environ.get("TF_CONFIG"):
            name = "multi_worker_mirrored"
        elif len(gpus) > 1:
            name = "mirrored"
        else:
            name = "one_device"
    if name == "tpu":
        return _tpu_strategy(tpu)
    if name == "multi_worker_mirrored":
        parse_tf_config()
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "mirrored":
        if gpus:
            return tf.distribute.MirroredStrategy()
        if num_logical_cpus > 1:
            configure_logical_cpus(num_logical_cpus)
        cpus = tf.config.list_logical_devices("CPU")
        # Logical CPUs share one memory: reducing onto one of them is as fast as an
        # all-reduce, and unlike the collective ops it keeps no process-wide instance
        # keys, which clash when a process creates a second MirroredStrategy.
        return tf.distribute.MirroredStrategy([d.name for d in cpus],
                                              cross_device_ops=tf.distribute.ReductionToOneDevice())
    return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")


def per_replica_batch_size(global_batch_size, strategy):
    """The global batch split over the replicas; it must divide evenly."""
    replicas = strategy.num_replicas_in_sync
    if global_batch_size <= 0 or global_batch_size % replicas:
        raise ValueError(f"the global batch size {global_batch_size} must be a positive multiple "
                         f"of the {replicas} replicas of {type(strategy).__name__}")
    return global_batch_size // replicas


def default_precision(strategy):
    """bfloat16 on TPU, float16 (with loss scaling) on GPU, float32 on CPU."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top  (see the module docstring)
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return "bfloat16"
    devices = strategy.extended.worker_devices
    if any("GPU" in d.upper() for d in devices):
        return "float16"
    return "float32"


def is_chief(strategy):
    """True on the worker that writes summaries and exports (task 0 / single host)."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top  (see the module docstring)
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    return resolver.task_type in (None, "chief") or (
        resolver.task_type == "worker" and resolver.task_id == 0
        and "chief" not in resolver.cluster_spec().as_dict())
