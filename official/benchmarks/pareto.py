"""The speed-accuracy Pareto curve on this machine: ResNet-RS against EfficientNet.

The ResNet-RS paper's Figure 1 plots published top-1 against the training step time of
every ResNet-RS and EfficientNet-B0..B7 and states that, at similar accuracy, ResNet-RS
trains 1.7x-2.7x faster on TPUs and 2.1x-3.3x faster on GPUs. This module measures
the same points on this machine: our published (depth, size) pairs
(official/published.py) and Keras' EfficientNet-B0..B7 (`keras.applications`,
weights=None) at their published resolutions with their published top-1
(official/benchmarks/published_speed.py), each in three modes:

- train: images/s of the trainer's step (official/training/step.py: forward, backward,
  coupled L2, SGD momentum; no EMA) at a small batch (what fits on a CPU), per image;
- infer: images/s of inference at `batch_size` (sliced as the serving model runs it);
- infer_b1: latency at batch 1.

For each EfficientNet, `speed_ratios` gives the speed of the ResNet-RS of the nearest
published top-1 at or above it over the EfficientNet's (the paper's comparison).
TensorFlow is imported inside the functions.

Example:
    >>> points = parse_points("rs50@160,b0")
    >>> [(p.label, p.top1) for p in points]     # each with its published top-1
    [('RS-50@160', 78.8), ('EfficientNet-B0@224', 77.1)]

    Measuring trains both models at their published sizes (minutes on a CPU), so it is
    not run here:

    >>> result = bench_pareto(points, ["train"], batch_size=8, train_batch_size=2,
    ...                       png="pareto.png", reps=1, rep_seconds=1)  # doctest: +SKIP
    >>> result["ratios"][0]["resnet_rs"]   # RS-50@160 (78.8) over EfficientNet-B0 (77.1)  # doctest: +SKIP
    'RS-50@160'
"""

import dataclasses
import json
import time

from official.benchmarks import published_speed
from official.benchmarks import throughput

RESNET_RS, EFFICIENTNET = "ResNet-RS", "EfficientNet"
MODES = ("train", "infer", "infer_b1")
# mode -> the row's key, and whether higher is faster.
KEYS = {"train": ("train_img_s", True), "infer": ("img_s", True), "infer_b1": ("latency_ms", False)}


@dataclasses.dataclass(frozen=True)
class Point:
    """One model of the curve: `key` names it on the command line (rs50@160, b0)."""

    family: str
    key: str
    label: str
    image_size: int
    top1: float
    depth: int = 0          # ResNet-RS only
    variant: str = ""       # EfficientNet only: "B0" ... "B7"


POINTS = ([Point(RESNET_RS, f"rs{d}@{s}", f"RS-{d}@{s}", s, t, depth=d) for d, s, t in throughput.PUBLISHED]
          + [Point(EFFICIENTNET, v.lower(), f"EfficientNet-{v}@{s}", s, t, variant=v)
             for v, (s, t) in published_speed.EFFICIENTNET.items()])
BY_KEY = {p.key: p for p in POINTS}


def parse_points(text):
    """'all', 'resnet-rs', 'efficientnet' or a list of keys ('rs50@160,b0,b3') -> [Point].

    Example:
        >>> [p.label for p in parse_points("rs50@160,b0")]
        ['RS-50@160', 'EfficientNet-B0@224']
    """
    groups = {"all": POINTS, "resnet-rs": [p for p in POINTS if p.family == RESNET_RS],
              "efficientnet": [p for p in POINTS if p.family == EFFICIENTNET]}
    chosen = []
    for item in filter(None, (s.strip().lower() for s in text.split(","))):
        if item in groups:
            chosen += groups[item]
        elif item in BY_KEY:
            chosen.append(BY_KEY[item])
        else:
            raise ValueError(f"unknown Pareto model {item!r}; choose from all, resnet-rs, efficientnet, "
                             + ", ".join(BY_KEY))
    if not chosen:
        raise ValueError("no Pareto model chosen")
    return list(dict.fromkeys(chosen))


def bench_efficientnet(variant, mode, batch_size, precision="float32", batch_splits=2, reps=5,
                       rep_seconds=4.0, warmup_steps=1, fused_batch_norm=True):
    """images/s of Keras' EfficientNet-`variant` (weights=None) at its published resolution.

    train: the trainer's step (official/training/step.py) with the ResNet-RS recipe's loss
    and optimizer settings (label smoothing 0.1, SGD momentum 0.9, L2 4e-5 on kernels),
    no EMA: what bench_model("train", ema=False) runs for ResNet-RS. infer: the model
    called in `batch_splits` slices, as our serving model is.
    """
    # fused_batch_norm is ResNet-RS's choice (bench_pareto passes bench_model's settings to both
    # families); Keras' EfficientNet has its own batch norm, the same in both cases.
    del fused_batch_norm
    import keras  # pylint: disable=g-import-not-at-top
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    from official.runtime import precision as precision_lib  # pylint: disable=g-import-not-at-top
    from official.serving import inference  # pylint: disable=g-import-not-at-top
    from official.training import optimizer as optimizer_lib  # pylint: disable=g-import-not-at-top
    from official.training import step as step_lib  # pylint: disable=g-import-not-at-top

    size = published_speed.EFFICIENTNET[variant][0]
    config = throughput.model_config(50, size, batch_size, precision, ema=False)
    t0 = time.perf_counter()
    with precision_lib.policy(precision):
        model = getattr(keras.applications, f"EfficientNet{variant}")(
            weights=None, input_shape=(size, size, 3), classifier_activation=None)
    images = tf.random.normal((batch_size, size, size, 3), seed=0)
    if mode == "train":
        labels = tf.random.uniform((batch_size,), 0, 1000, tf.int32, seed=0)
        optimizer = optimizer_lib.make_optimizer(config, 0.1, precision, model)
        decayed = [v for v in model.trainable_variables if v.path.endswith("kernel")]
        loop = step_lib.make_train_loop(model, optimizer, None, decayed, config,
                                        tf.distribute.get_strategy())
        iterator = iter(tf.data.Dataset.from_tensors((images, labels)).repeat())
        one = tf.constant(1)
        fn = lambda: loop(iterator, one).numpy()  # pylint: disable=unnecessary-lambda-assignment  # noqa: E731
    else:
        infer = tf.function(lambda x: inference.logits(model, x, batch_splits))
        fn = lambda: infer(images).numpy()  # pylint: disable=unnecessary-lambda-assignment  # noqa: E731
    result = dict(mode=mode, model=f"EfficientNet{variant}", image_size=size, batch_size=batch_size,
                  precision=precision, build_s=round(time.perf_counter() - t0, 2))
    result.update(throughput.time_calls(fn, batch_size, reps, rep_seconds, warmup_steps))
    return result


def bench_point(point, mode, batch_size, precision="float32", **timing):
    """images/s of `point` in `mode` ("train" or "infer") at `batch_size`."""
    if point.family == RESNET_RS:
        extra = dict(ema=False) if mode == "train" else {}
        return throughput.bench_model(mode, point.depth, point.image_size, batch_size, precision,
                                      **extra, **timing)["img_s_median"]
    return bench_efficientnet(point.variant, mode, batch_size, precision, **timing)["img_s_median"]


def speed_ratios(rows, key):
    """Each EfficientNet row's ResNet-RS speed-up: the ResNet-RS of the nearest top-1 at or
    above its own, its speed over the EfficientNet's on `key` (a KEYS value; a latency
    is inverted). Rows without `key`, or with no such ResNet-RS measured, are left out.

    Example:
        >>> rows = [dict(family="ResNet-RS", label="RS-50@160", top1=78.8, train_img_s=6.0),
        ...         dict(family="EfficientNet", label="EfficientNet-B0@224", top1=77.1, train_img_s=3.0)]
        >>> speed_ratios(rows, "train_img_s")[0]["ratio"]
        2.0
    """
    higher_is_faster = {k: h for k, h in KEYS.values()}[key]
    rs = [r for r in rows if r["family"] == RESNET_RS and r.get(key)]
    out = []
    for eff in (r for r in rows if r["family"] == EFFICIENTNET and r.get(key)):
        above = [r for r in rs if r["top1"] >= eff["top1"]]
        if not above:
            continue
        match = min(above, key=lambda r: r["top1"])
        ratio = match[key] / eff[key] if higher_is_faster else eff[key] / match[key]
        out.append(dict(key=key, efficientnet=eff["label"], top1=eff["top1"], resnet_rs=match["label"],
                        resnet_rs_top1=match["top1"], ratio=round(ratio, 2)))
    return out


def bench_pareto(points, modes, batch_size, train_batch_size, png, precision="float32", **timing):
    """Measures `points` (parse_points) in `modes`, prints a JSON line per point and the
    ratios, plots top-1 against each mode (PNG at `png`); `timing`: bench_model's settings."""
    rows = []
    for point in points:
        row = dict(family=point.family, label=point.label, image_size=point.image_size, top1=point.top1)
        if "train" in modes:
            row.update(train_img_s=bench_point(point, "train", train_batch_size, precision, **timing),
                       train_batch=train_batch_size)
        if "infer" in modes:
            row.update(img_s=bench_point(point, "infer", batch_size, precision, **timing), batch=batch_size)
        if "infer_b1" in modes:
            row["latency_ms"] = round(1000 / bench_point(point, "infer", 1, precision, **timing), 1)
        print(json.dumps(dict(mode="pareto_point", **row)), flush=True)
        rows.append(row)
    ratios = [r for mode in modes for r in speed_ratios(rows, KEYS[mode][0])]
    paper = ", ".join(f"{lo}-{hi}x on {where}s" for where, (lo, hi) in published_speed.PAPER_SPEEDUP.items())
    for r in ratios:
        print(f"{r['key']}: {r['resnet_rs']} ({r['resnet_rs_top1']}) is {r['ratio']:.2f}x as fast as "
              f"{r['efficientnet']} ({r['top1']}); the paper, in training: {paper}", flush=True)
    plot_pareto(rows, png, f"{throughput.cpu_model()}, {precision}, train batch {train_batch_size}, "
                f"infer batch {batch_size}")
    return dict(mode="pareto", png=png, points=rows, ratios=ratios)


def plot_pareto(rows, path, title):
    """Top-1 against each measured speed, one curve per family, one point per model."""
    import matplotlib  # pylint: disable=g-import-not-at-top
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

    panels = [(key, label) for key, label in (
        ("train_img_s", "training images/s (higher is better)"),
        ("img_s", "inference images/s (higher is better)"),
        ("latency_ms", "batch-1 latency, ms (lower is better)")) if any(key in r for r in rows)]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.5), squeeze=False)
    for ax, (key, label) in zip(axes[0], panels):
        for family, style in ((RESNET_RS, "o-"), (EFFICIENTNET, "s--")):
            points = sorted((r for r in rows if r["family"] == family and key in r), key=lambda r: r["top1"])
            if not points:
                continue
            ax.plot([r[key] for r in points], [r["top1"] for r in points], style, label=family)
            for r in points:
                ax.annotate(r["label"].split("@")[0].replace("EfficientNet-", ""), (r[key], r["top1"]),
                            fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("published ImageNet top-1 (%)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Speed-accuracy on this machine ({title})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
