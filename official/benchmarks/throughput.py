"""Throughput measurements of the input pipeline, the training step and inference.

The library behind tools/benchmark.py: every function takes its settings as
arguments. Warm-up and compile time (the first call traces the tf.function) are
reported apart (`first_call_s`, `first_batch_s`) and never mixed into the
throughput. TensorFlow is imported inside the functions, so that a caller can set
oneDNN's environment variables first.

Example:
    >>> result = bench_model("train", 50, 160, 32, block_counts=(1, 1, 1, 1))  # ~2 min  # doctest: +SKIP
    >>> result["img_s_median"], result["first_call_s"]  # doctest: +SKIP
    (..., ...)
"""

import io
import os
import platform
import resource
import statistics
import tempfile
import time

from absl import logging

from official import families
from official import published


def make_bench_tfrecords(out_dir, num_images, num_shards=8, seed=0):
    """ImageNet-like JPEGs from scikit-image's photos, in the official layout.

    Random crops of the sample photos, 300..500 x 250..450 px, with per-channel
    gain and sensor-like noise (sigma 8), JPEG quality 90: realistic JPEG decoding
    and crop costs, the same data on every machine, so figures compare.
    """
    import numpy as np  # pylint: disable=g-import-not-at-top
    from PIL import Image  # pylint: disable=g-import-not-at-top
    import skimage.data  # pylint: disable=g-import-not-at-top

    from official.data import tfrecords  # pylint: disable=g-import-not-at-top

    sources = []
    for name in ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry",
                 "hubble_deep_field", "retina", "camera", "brick", "grass", "gravel",
                 "moon", "colorwheel", "clock", "coins"):
        try:
            im = getattr(skimage.data, name)()
        except Exception:  # pylint: disable=broad-except  (sample needing a download)
            continue
        if im.ndim == 2:
            im = np.stack([im] * 3, -1)
        sources.append(Image.fromarray(np.ascontiguousarray(im[..., :3]).astype(np.uint8)))
    rng = np.random.default_rng(seed)

    def examples():
        for i in range(num_images):
            src = sources[rng.integers(len(sources))]
            sw, sh = src.size
            w, h = int(rng.integers(300, 501)), int(rng.integers(250, 451))
            f = min(rng.uniform(1.0, 1.6), sw / w, sh / h)
            cw, ch = max(32, int(w * f)), max(32, int(h * f))
            x0, y0 = int(rng.integers(0, sw - cw + 1)), int(rng.integers(0, sh - ch + 1))
            img = src.crop((x0, y0, x0 + cw, y0 + ch)).resize((w, h), Image.BICUBIC)
            arr = np.asarray(img).astype(np.float32) * rng.uniform(0.8, 1.2, size=3)
            arr += rng.normal(0.0, 8.0, size=arr.shape).astype(np.float32)
            buf = io.BytesIO()
            Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=90)
            yield buf.getvalue(), i % 1000 + 1, f"n{i % 1000:08d}", f"bench_{i}.JPEG"

    return tfrecords.write_tfrecords(examples(), out_dir, "train", num_shards, progress=False)


def time_dataset(ds, batch_size, reps, rep_seconds, warmup_seconds):
    """Median/min/max images/s over ``reps`` repetitions of ~``rep_seconds``."""
    it = iter(ds)
    t0 = time.perf_counter()
    next(it)
    first = time.perf_counter() - t0
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < warmup_seconds:
        next(it)
        n += 1
    iters = max(1, round(rep_seconds / ((time.perf_counter() - t0) / max(n, 1))))
    rates = []
    for r in range(reps):
        t0 = time.perf_counter()
        for _ in range(iters):
            next(it)
        rates.append(batch_size * iters / (time.perf_counter() - t0))
        logging.info("rep %d: %.1f img/s", r, rates[-1])
    median = statistics.median(rates)
    return dict(img_s_median=round(median, 1), img_s_min=round(min(rates), 1),
                img_s_max=round(max(rates), 1), reps=reps, batches_per_rep=iters,
                first_batch_s=round(first, 2),
                core_ms_per_img=round(os.cpu_count() * 1000 / median, 2))



def bench_input(data_dir="", label_offset=1, num_images=2000, image_size=160, batch_size=32,
                preprocessing=families.TF1.name, randaug_magnitude=10, randaug_num_layers=2,
                pipelines=("train", "eval"), split="train", reps=5, rep_seconds=4.0,
                warmup_seconds=3.0):
    """images/s of the training and eval input pipelines on ImageNet-format TFRecords.

    data_dir: a folder of {split}-* TFRecords; empty: ``num_images`` generated JPEGs
    (make_bench_tfrecords) in a temporary folder.
    """
    import ml_collections  # pylint: disable=g-import-not-at-top
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    from official.data import pipeline as pipeline_lib  # pylint: disable=g-import-not-at-top

    if not data_dir:
        data_dir = tempfile.mkdtemp(prefix="bench_input_")
        logging.info("generating %d JPEGs in %s", num_images, data_dir)
        make_bench_tfrecords(data_dir, num_images)
        label_offset = 1
    cfg = ml_collections.ConfigDict(dict(
        source="tfrecord", data_dir=data_dir, image_size=image_size, eval_image_size=0,
        preprocessing=preprocessing, crop_padding=32,
        randaug_num_layers=randaug_num_layers, randaug_magnitude=randaug_magnitude,
        randaug_variant=preprocessing, label_offset=label_offset, shuffle_buffer=1024,
        cache=False, deterministic=False, skip_corrupt=True, dtype="float32"))
    result = dict(mode="input", tf=tf.__version__, cpus=os.cpu_count(),
                  cpu=cpu_model(), image_size=image_size, batch_size=batch_size,
                  preprocessing=preprocessing, randaug_magnitude=randaug_magnitude,
                  randaug_num_layers=randaug_num_layers)
    for name in pipelines:
        is_training = name == "train"
        ds = pipeline_lib.build_dataset(cfg, split=split, is_training=is_training,
                                batch_size=batch_size, num_classes=1000)
        if not is_training:
            ds = ds.repeat()
        result[name] = time_dataset(ds, batch_size, reps, rep_seconds, warmup_seconds)
    result["maxrss_mib"] = maxrss_mib()
    return result


def cpu_model():
    """The CPU's model name (/proc/cpuinfo), else platform.processor()."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


# (depth, size, TF1 release top-1) of every published checkpoint, for --pareto (pareto.py).
PUBLISHED = [(c.depth, c.image_size, c.top1[families.TF1.name]) for c in published.CHECKPOINTS.values()]


def settings():
    """TensorFlow's version, the CPU, and the oneDNN and thread settings in effect."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    from tensorflow.python.util import _pywrap_util_port  # pylint: disable=g-import-not-at-top

    return dict(tf=tf.__version__, cpu=cpu_model(), cpus=os.cpu_count(),
                onednn=bool(_pywrap_util_port.IsMklEnabled()),
                intra_threads=tf.config.threading.get_intra_op_parallelism_threads(),
                inter_threads=tf.config.threading.get_inter_op_parallelism_threads())


def time_calls(fn, images_per_call, reps, rep_seconds, warmup_steps):
    """Times `fn()` (which must block until done): first call apart, then repetitions."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(warmup_steps):
        fn()
    per_call = (time.perf_counter() - t0) / warmup_steps if warmup_steps else first
    calls = max(1, round(rep_seconds / max(per_call, 1e-6)))
    rates, busy = [], []
    for r in range(reps):
        c0, t0 = process_cpu_s(), time.perf_counter()
        for _ in range(calls):
            fn()
        wall = time.perf_counter() - t0
        rates.append(images_per_call * calls / wall)
        busy.append((process_cpu_s() - c0) / wall)
        logging.info("rep %d: %.2f img/s", r, rates[-1])
    # cores_busy: process CPU time over wall time; below the core count, cores sat idle.
    return dict(img_s_median=round(statistics.median(rates), 3), img_s_min=round(min(rates), 3),
                img_s_max=round(max(rates), 3), img_s=[round(r, 3) for r in rates], reps=reps,
                calls_per_rep=calls, first_call_s=round(first, 2),
                cores_busy=round(statistics.median(busy), 2))


def process_cpu_s():
    """This process's CPU time so far (user + system, all threads), seconds."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime



def model_config(depth, image_size, batch_size, precision="float32", fused_batch_norm=True,
                 block_counts=(), ema=True):
    """The published recipe of `depth` (its first checkpoint's) at the size and batch asked for."""
    from official.training import recipes  # pylint: disable=g-import-not-at-top

    # The published recipe of that depth (its first checkpoint's dropout and stochastic
    # depth), at the size asked for.
    config = recipes.recipe(**{**published.of_depth(depth)[0].recipe("tf1"), "image_size": image_size})
    config.model.fused_batch_norm = fused_batch_norm     # a key of every recipe
    config.model.block_counts = tuple(int(n) for n in block_counts)
    config.train.global_batch_size = batch_size
    config.train.precision = precision
    if not ema:
        config.ema.decay = 0.0     # no EMA in the state, nor in the step
    return config


def bench_model(mode, depth, image_size, batch_size, precision="float32", fused_batch_norm=True,
                block_counts=(), steps_per_call=1, batch_splits=2, ema=True, reps=5,
                rep_seconds=4.0, warmup_steps=1, conv_floor=False, op_profile=False,
                fold_batch_norm=None):
    """images/s of the training step or of inference, on a fixed random batch.

    train: the trainer's own state (official/training/state.py) and step
    (official/training/step.py): forward, backward, coupled L2, SGD momentum and, unless
    `ema` is False, the EMA update. infer: the serving model of an export (with
    `fold_batch_norm` as official/serving/inference.py `serving_model` takes it).
    conv_floor: also the images/s if every op but the convolutions were free.
    op_profile: also where the call's op time goes (official/benchmarks/op_profile.py), over 2 calls;
        with conv_floor, the floor's too (its convolutions' op time against the call's).
    """
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    from official.serving import inference  # pylint: disable=g-import-not-at-top
    from official.runtime import precision as precision_lib  # pylint: disable=g-import-not-at-top
    from official.training import state as state_lib  # pylint: disable=g-import-not-at-top
    from official.training import step as step_lib  # pylint: disable=g-import-not-at-top

    config = model_config(depth, image_size, batch_size, precision, fused_batch_norm,
                          block_counts, ema)
    t0 = time.perf_counter()
    images = tf.random.normal((batch_size, image_size, image_size, 3), seed=0)
    labels = tf.random.uniform((batch_size,), 0, config.model.num_classes, tf.int32, seed=0)
    # Models built in the block compute in `precision`; the global policy is restored after.
    with precision_lib.policy(precision):
        if mode == "infer":
            model = state_lib.model_from_config(config)
            model = inference.serving_model(model, fold_batch_norm)    # what an export serves
            infer = tf.function(lambda x: inference.logits(model, x, batch_splits))
            fn = lambda: infer(images).numpy()  # pylint: disable=unnecessary-lambda-assignment
            images_per_call = batch_size
        else:
            strategy = tf.distribute.get_strategy()
            state = state_lib.create_train_state(config, strategy, precision)
            model = state.model
            loop = step_lib.make_train_loop(model, state.optimizer, state.ema, state.wd_variables,
                                            config, strategy)
            iterator = iter(tf.data.Dataset.from_tensors((images, labels)).repeat())
            steps = tf.constant(steps_per_call)
            fn = lambda: loop(iterator, steps).numpy()  # pylint: disable=unnecessary-lambda-assignment
            images_per_call = batch_size * steps_per_call
    build_s = time.perf_counter() - t0
    result = dict(mode=mode, depth=depth, image_size=image_size, batch_size=batch_size,
                  precision=precision, fused_batch_norm=fused_batch_norm,
                  steps_per_call=steps_per_call if mode == "train" else None,
                  ema=ema if mode == "train" else None,
                  batch_splits=batch_splits if mode == "infer" else None,
                  batch_norm_folded=bool(model.get_config().get("fold_batch_norm")),
                  build_s=round(build_s, 2))
    if block_counts:     # not a published model: say so in the result
        result["block_counts"] = list(model.block_counts)
    result.update(time_calls(fn, images_per_call, reps, rep_seconds, warmup_steps))
    if conv_floor:
        result["maxrss_mib"] = maxrss_mib()      # before the floor's own tensors
        floor_fn = conv_floor_fn(model, mode, batch_size)
        floor_call = lambda: floor_fn().numpy()  # pylint: disable=unnecessary-lambda-assignment  # noqa: E731
        floor = time_calls(floor_call, batch_size, reps, rep_seconds, warmup_steps)
        result.update(conv_floor_img_s=floor["img_s_median"], conv_floor_cores_busy=floor["cores_busy"],
                      of_conv_floor=round(result["img_s_median"] / floor["img_s_median"], 3))
    if op_profile:
        from official.benchmarks import op_profile as op_profile_lib  # pylint: disable=g-import-not-at-top
        result["op_profile"] = op_profile_lib.profile(fn, calls=2)
        if conv_floor:   # do the convolutions cost more inside the call than alone?
            result["conv_floor_op_profile"] = op_profile_lib.profile(floor_call, calls=2)
    return result


def conv_floor_fn(model, mode, batch_size):
    """A tf.function running every Conv2D of `model` alone, on random inputs of its shapes.

    train: forward, filter gradient and input gradient (none for the first conv, which
    reads the image: no training step computes that one); infer: forward only. The
    throughput of this call bounds any step built from the same convolution kernels:
    what it leaves to the rest (batch norm, activations, SE, residuals, optimizer, EMA)
    is the room left for fusion.
    """
    import keras  # pylint: disable=g-import-not-at-top
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    rng = tf.random.Generator.from_seed(0)
    cases = []
    for i, layer in enumerate(convs):
        x = rng.normal((batch_size,) + tuple(layer.input.shape[1:]), dtype=layer.compute_dtype)
        dy = rng.normal((batch_size,) + tuple(layer.output.shape[1:]), dtype=layer.compute_dtype)
        cases.append((layer, x, dy, i > 0))

    @tf.function
    def run():
        keep = []    # one element of every result, so that nothing is pruned
        for layer, x, dy, input_grad in cases:
            with tf.GradientTape() as tape:
                tape.watch(x)
                # No bias or activation (SE convs); the kernel cast as the layer's call does.
                y = layer.convolution_op(x, tf.cast(layer.kernel, layer.compute_dtype))
            keep.append(y[0, 0, 0, 0])     # (gradients alone would not need the forward)
            if mode == "infer":
                continue
            sources = [layer.kernel, x] if input_grad else [layer.kernel]
            keep += [g[(0,) * len(g.shape)] for g in tape.gradient(y, sources, output_gradients=dy)]
        return tf.add_n([tf.cast(k, tf.float32) for k in keep])

    return run


def maxrss_mib():
    """This process's peak resident memory, MiB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def frozen_weights_setting(choice, batch_size):
    """The value of TF_ONEDNN_ASSUME_FROZEN_WEIGHTS ("1"/"0") for an inference process.

    With it, oneDNN keeps its re-laid-out copy of every filter (one per op instance:
    ~150 MiB per model copy for RS-50); without it, it re-lays them out on every call,
    which costs nothing measurable at batch 32 but makes batch 1 ~15x slower.
    """
    if choice == "auto":
        return "1" if batch_size <= 4 else "0"
    return "1" if choice == "on" else "0"
