r"""ResNet-RS training and inference speed on a GPU: Keras 3 on JAX, with timm beside it.

For a machine that has JAX (CUDA) and perhaps PyTorch with timm, but no TensorFlow and no
package registry: it needs Keras 3 and our `official` package only, runs the JAX backend
(KERAS_BACKEND=jax is set before Keras loads) and refuses any TensorFlow import, so a run
here on a CPU proves it runs there. It measures, for each published (depth, size) chosen:

- the training step at the official protocol: batch 128, halved until it fits; forward,
  backward, coupled L2 (4e-5, kernels), SGD momentum 0.9 (Keras' SGD under
  `stateless_apply`), label smoothing 0.1, one `jax.jit` with the state donated, in mixed
  bfloat16 and in float32 (on a GPU XLA's default precision, i.e. TF32 matrix products on
  Ampere and Hopper), beside the official V100 float32 and TPUv3 bfloat16 latencies
  (official/benchmarks/published_speed.py). The model is `official.modeling.resnet_rs.ResNetRS`
  with the published checkpoint's dropout and stochastic depth; no EMA (a few ms of
  element-wise work per step on a GPU; timm's step has none either);
- inference at batch 1 and at a large batch (256, halved until it fits);
- timm's `resnetrs<depth>` (official/benchmarks/peers/timm_resnetrs.py: channels-last,
  torch.compile, bfloat16 autocast or TF32 float32) in its own process right after each
  of ours (interleaved), where torch and timm are installed; skipped with the reason otherwise.

It prints one table and writes the rows as JSON (--out). A run stops starting
measurements after --budget_s (the one running finishes: compiling a big model's training
step takes a minute or two), so the default run (RS-50 at 160) fits in ~5 minutes.

On the lent GPU machine (no registry there), fetch Keras and the dependencies JAX does not
bring into the ignored folder .whl/ here, carry it, and run through the shell wrapper,
which installs them into /tmp/site and puts that on PYTHONPATH:

    pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_17_x86_64 -d .whl keras==3.15.1 namex optree absl-py rich \
        markdown-it-py mdurl pygments h5py
    bash tools/gpu_benchmark.sh --out=$OUT/gpu.json                       # RS-50 at 160
    bash tools/gpu_benchmark.sh --models=all --budget_s=560 --out=$OUT/gpu.json

Here, on a CPU (jax[cpu]), the tiny variant checks the whole path in a few minutes:

    KERAS_BACKEND=jax python tools/gpu_benchmark.py --tiny --out=/tmp/gpu.json
    # block_counts (1, 1, 1, 1), 64 px, batch 4 (8 for inference), 1 repetition

TensorFlow on a GPU (the trainer's `--config.train.jit_compile`, or XLA auto-clustering)
runs the same XLA compiler and the same cuDNN convolutions, so these numbers are what our
model's kernels can do on that GPU. They do not show TensorFlow's own side: tf.function
and tf.distribute dispatch, the fused batch norm op (the JAX path uses Keras' batch norm),
the EMA, the tf.data input pipeline, or multi-GPU all-reduce (docs/performance.md).
"""

import argparse
import contextlib
import functools
import importlib.abc
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
import types

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)   # the checkout's `official`, without installing it
PEERS = os.path.join(ROOT, "official", "benchmarks", "peers")
sys.path.append(PEERS)     # peer_timing: the timing every peer script uses

from official import published  # noqa: E402  (standard library only)
from official.benchmarks import published_speed  # noqa: E402

MODES = ("train", "infer_b1", "infer")
PRECISIONS = ("bfloat16", "float32")
TINY = dict(block_counts=(1, 1, 1, 1), image_size=64, train_batch=4, infer_batch=8, reps=1,
            rep_seconds=0.2)
FLOAT32_GPU_LABEL = "float32 (XLA default precision: TF32 matmuls on Hopper)"


class _NoTensorFlow(importlib.abc.MetaPathFinder):
    """Makes `import tensorflow` fail here as it does on a machine without it."""

    def find_spec(self, fullname, path, target=None):
        if fullname.split(".")[0] == "tensorflow":
            raise ModuleNotFoundError(f"{fullname}: tools/gpu_benchmark.py runs without TensorFlow",
                                      name=fullname)
        return None


def import_resnet_rs():
    """official.modeling.resnet_rs, without TensorFlow.

    Until official/modeling is backend-agnostic, its layers module imports
    official.data.preprocessing (TensorFlow) for the preprocessing layer alone; with
    include_preprocessing=False nothing calls it, so a stand-in that says so takes its place.
    """
    try:
        from official.modeling import resnet_rs  # pylint: disable=import-outside-toplevel
        return resnet_rs
    except ImportError as e:
        if "tensorflow" not in str(e):
            raise
    for name in [m for m in sys.modules if m.startswith(("official.modeling", "official.data"))]:
        del sys.modules[name]

    def normalize(*args, **kwargs):
        raise RuntimeError("include_preprocessing=True needs TensorFlow (official.data.preprocessing)")

    stub = types.ModuleType("official.data.preprocessing")
    stub.normalize = normalize
    sys.modules["official.data.preprocessing"] = stub
    from official.modeling import resnet_rs  # pylint: disable=import-outside-toplevel
    return resnet_rs


def parse_models(text):
    """'50@160,101@192' or 'all' -> [(depth, size)] of published checkpoints; ValueError otherwise."""
    pairs = [(c.depth, c.image_size) for c in published.CHECKPOINTS.values()]
    if text == "all":
        return pairs
    chosen = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        depth, _, size = item.partition("@")
        if not (depth.isdigit() and size.isdigit()) or (int(depth), int(size)) not in pairs:
            raise ValueError(f"--models: {item!r} is not a published DEPTH@SIZE; published: "
                             + ",".join(f"{d}@{s}" for d, s in pairs) + " (or all)")
        chosen.append((int(depth), int(size)))
    if not chosen:
        raise ValueError("--models: empty")
    return chosen


def _checked_list(text, flag, allowed):
    items = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in items if s not in allowed]
    if bad or not items:
        raise ValueError(f"--{flag}: {bad or 'empty'}; choose from {','.join(allowed)}")
    return items


def is_oom(error):
    """Whether a JAX/XLA error is running out of device memory."""
    text = str(error)
    return "RESOURCE_EXHAUSTED" in text or "out of memory" in text.lower()


class Ours:
    """Builds ResNetRS under Keras on JAX and times its jitted training step or inference."""

    def __init__(self, block_counts=None):
        import jax  # pylint: disable=import-outside-toplevel
        import keras  # pylint: disable=import-outside-toplevel
        self.jax, self.keras = jax, keras
        self.resnet_rs = import_resnet_rs()
        self.block_counts = block_counts

    def build(self, depth, size, precision):
        keras = self.keras
        keras.config.set_dtype_policy("mixed_bfloat16" if precision == "bfloat16" else "float32")
        checkpoint = published.CHECKPOINTS.get(f"resnet-rs-{depth}-i{size}") or published.of_depth(depth)[0]
        keras.utils.set_random_seed(0)
        try:
            # The fused batch norm is TensorFlow's op; Keras' own computes the same on JAX.
            return self.resnet_rs.ResNetRS(
                depth, block_counts=self.block_counts, input_shape=(size, size, 3),
                include_preprocessing=False, fused_batch_norm=False,
                dropout_rate=checkpoint.dropout_rate, drop_connect_rate=checkpoint.drop_connect_rate)
        finally:
            keras.config.set_dtype_policy("float32")

    def train_fn(self, model, batch, size):
        """A step() that runs one jitted training step and waits for it."""
        jax, keras = self.jax, self.keras
        jnp = jax.numpy
        optimizer = keras.optimizers.SGD(learning_rate=0.1, momentum=0.9)
        optimizer.build(model.trainable_variables)
        decayed = [v.path.endswith("kernel") for v in model.trainable_variables]
        classes = model.output_shape[-1]

        def loss_fn(trainable, non_trainable, images, labels):
            logits, non_trainable = model.stateless_call(trainable, non_trainable, images, training=True)
            log_p = jax.nn.log_softmax(logits.astype(jnp.float32))
            target = jax.nn.one_hot(labels, classes) * 0.9 + 0.1 / classes
            l2 = sum(jnp.sum(jnp.square(w)) for w, d in zip(trainable, decayed) if d)
            return -jnp.mean(jnp.sum(target * log_p, -1)) + 4e-5 * l2 / 2, non_trainable

        grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

        @functools.partial(jax.jit, donate_argnums=(0,))
        def train_step(state, images, labels):
            trainable, non_trainable, slots = state
            (loss, non_trainable), grads = grad_fn(trainable, non_trainable, images, labels)
            trainable, slots = optimizer.stateless_apply(slots, grads, trainable)
            return (trainable, non_trainable, slots), loss

        state = [tuple(jnp.array(v.value) for v in vs) for vs in
                 (model.trainable_variables, model.non_trainable_variables, optimizer.variables)]
        images = jax.random.normal(jax.random.key(0), (batch, size, size, 3))
        labels = jax.random.randint(jax.random.key(1), (batch,), 0, classes)

        def step():
            state[:], loss = train_step(tuple(state), images, labels)
            loss.block_until_ready()
        return step

    def infer_fn(self, model, batch, size):
        jax = self.jax
        variables = ([v.value for v in model.trainable_variables],
                     [v.value for v in model.non_trainable_variables])
        call = jax.jit(lambda t, n, x: model.stateless_call(t, n, x, training=False)[0])
        images = jax.random.normal(jax.random.key(0), (batch, size, size, 3))
        return lambda: call(*variables, images).block_until_ready()

    def measure(self, model, mode, batch, reps, rep_seconds):
        """Timing of `model` at `batch`, halved while the device runs out of memory."""
        from peer_timing import time_steps  # pylint: disable=import-outside-toplevel
        size = model.input_shape[1]
        while True:
            try:
                make = self.train_fn if mode == "train" else self.infer_fn
                step = make(model, batch, size)
                with contextlib.redirect_stdout(sys.stderr):   # its per-repetition lines
                    result = time_steps(step, batch, reps, rep_seconds, warmup=1)
                return dict(batch=batch, step_ms=round(1000 * batch / result["img_s_median"], 2), **result)
            except Exception as e:  # pylint: disable=broad-except
                if not is_oom(e) or batch == 1:
                    raise
                print(f"  out of memory at batch {batch}: halving", file=sys.stderr, flush=True)
                batch //= 2


def timm_status():
    """None where torch and timm are importable, else why timm is skipped."""
    missing = [m for m in ("torch", "timm") if importlib.util.find_spec(m) is None]
    return f"{' and '.join(missing)} not installed" if missing else None


def run_timm(depth, size, precision, mode, batch, reps, rep_seconds, device):
    """timm's resnetrs<depth> in its own process (peers/timm_resnetrs.py) -> its RESULT dict."""
    checkpoint = published.CHECKPOINTS[f"resnet-rs-{depth}-i{size}"]
    cmd = [sys.executable, os.path.join(PEERS, "timm_resnetrs.py"), "--model", f"resnetrs{depth}",
           "--drop-rate", str(checkpoint.dropout_rate), "--mode", "train" if mode == "train" else "infer",
           "--batch", str(batch), "--size", str(size), "--device", device, "--channels-last",
           "--compile", "--reps", str(reps), "--rep-seconds", str(rep_seconds), "--stub-torchvision"]
    cmd += ["--amp", "bfloat16"] if precision == "bfloat16" else ["--amp", "none", "--tf32"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}   # never our `official`
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    for line in reversed(out.stdout.splitlines()):
        if line.startswith("RESULT {"):
            return json.loads(line[len("RESULT "):])
    tail = (out.stdout + out.stderr).strip().splitlines()[-3:]
    raise RuntimeError(f"timm exited {out.returncode}: " + " | ".join(t[:150] for t in tail))


def precision_label(precision, backend):
    if precision == "bfloat16":
        return "bfloat16 (mixed)"
    return FLOAT32_GPU_LABEL if backend == "gpu" else "float32"


def _fmt(value, spec):
    return "-" if value is None else format(value, spec)


def print_table(rows, header):
    print(header)
    print("| model | precision | mode | batch | ours ms/step | ours img/s | timm img/s | ours/timm "
          "| official V100 fp32 s/step | official TPUv3 bf16 ms/step |")
    print("|" + "---|" * 10)
    for r in rows:
        ours, timm, official = r.get("ours") or {}, r.get("timm") or {}, r.get("official") or {}
        timm_cell = _fmt(timm.get("img_s_median"), ".1f") if "img_s_median" in timm else "-"
        print(f"| {r['model']} | {r['precision']} | {r['mode']} | {_fmt(ours.get('batch'), 'd')} | "
              f"{_fmt(ours.get('step_ms'), '.1f')} | {_fmt(ours.get('img_s_median'), '.1f')} | {timm_cell} | "
              f"{_fmt(r.get('ours_vs_timm'), '.2f')} | {_fmt(official.get('v100_fp32_s'), '.2f')} | "
              f"{_fmt(official.get('tpuv3_bf16_ms'), 'd')} |")
    notes = sorted({f"{who}: {r[who]['skipped']}" for r in rows for who in ("ours", "timm")
                    if isinstance(r.get(who), dict) and "skipped" in r[who]})
    notes += sorted({f"{r['model']} {r['mode']} {who}: {r[who]['error'][:150]}" for r in rows
                     for who in ("ours", "timm") if isinstance(r.get(who), dict) and "error" in r[who]})
    for note in notes:
        print(f"note: {note}")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--models", default="50@160", help="published DEPTH@SIZE list, or all")
    p.add_argument("--precisions", default=",".join(PRECISIONS), help="bfloat16,float32")
    p.add_argument("--modes", default=",".join(MODES), help="train,infer_b1,infer")
    p.add_argument("--train_batch", type=int, default=published_speed.OFFICIAL_BATCH,
                   help="first training batch (halved until it fits)")
    p.add_argument("--infer_batch", type=int, default=256, help="large inference batch (halved until it fits)")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--rep_seconds", type=float, default=2.0)
    p.add_argument("--budget_s", type=float, default=None, help="no measurement starts after this "
                   "many seconds (the running one finishes); default 240, none with --tiny")
    p.add_argument("--timm", choices=["auto", "off"], default="auto",
                   help="auto: timm beside ours where torch and timm import")
    p.add_argument("--tiny", action="store_true", help="block_counts 1,1,1,1, 64 px, batch 4, 1 rep "
                   "(checks the path on a CPU)")
    p.add_argument("--out", default="gpu_benchmark.json", help="JSON file of the rows")
    a = p.parse_args(argv)
    try:
        a.models = [(50, TINY["image_size"])] if a.tiny else parse_models(a.models)
        a.precisions = _checked_list(a.precisions, "precisions", PRECISIONS)
        a.modes = _checked_list(a.modes, "modes", MODES)
    except ValueError as e:
        p.error(str(e))
    for name in ("train_batch", "infer_batch", "reps"):
        if getattr(a, name) < 1:
            p.error(f"--{name} must be >= 1, got {getattr(a, name)}")
    if a.tiny:
        a.train_batch, a.infer_batch = TINY["train_batch"], TINY["infer_batch"]
        a.reps, a.rep_seconds = TINY["reps"], TINY["rep_seconds"]
    if a.budget_s is None:
        a.budget_s = float("inf") if a.tiny else 240.0
    return a


def main(argv=None):
    a = parse_args(argv)
    os.environ["KERAS_BACKEND"] = "jax"      # before Keras loads (here, not at import: see the tests)
    # JAX grows its memory as it needs it, leaving the rest to timm's processes.
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    sys.meta_path.insert(0, _NoTensorFlow())
    start = time.monotonic()
    try:
        import jax  # pylint: disable=import-outside-toplevel
        import keras  # pylint: disable=import-outside-toplevel
    except ImportError as e:
        raise SystemExit(f"{e}: install the wheels carried in .whl/ (see tools/gpu_benchmark.sh)") from e
    ours = Ours(TINY["block_counts"] if a.tiny else None)
    backend = jax.default_backend()
    device = jax.devices()[0]
    timm_skip = ("--timm=off" if a.timm == "off" else
                 "--tiny: timm builds only the published depths" if a.tiny else timm_status())
    rows = []
    for depth, size in a.models:
        name = f"RS-{depth}" + ("(1,1,1,1)" if a.tiny else "") + f"@{size}"
        for precision in a.precisions:
            model = None     # built once per precision, for all modes (it is batch-agnostic)
            for mode in a.modes:
                batch = {"train": a.train_batch, "infer_b1": 1, "infer": a.infer_batch}[mode]
                row = dict(model=name, depth=depth, image_size=size, mode=mode, dtype=precision,
                           precision=precision_label(precision, backend))
                if mode == "train" and not a.tiny:
                    row["official"] = published_speed.official_latency(depth, size)
                for who in ("ours", "timm"):
                    if who == "timm" and timm_skip:
                        row["timm"] = {"skipped": timm_skip}
                        continue
                    if time.monotonic() - start > a.budget_s:
                        row[who] = {"skipped": f"--budget_s={a.budget_s:g} spent"}
                        continue
                    print(f"{name} {precision} {mode} {who}...", file=sys.stderr, flush=True)
                    try:
                        if who == "ours":
                            model = model or ours.build(depth, size, precision)
                            row["ours"] = ours.measure(model, mode, batch, a.reps, a.rep_seconds)
                        else:   # timm at the batch ours ran at (after any halving)
                            row["timm"] = run_timm(depth, size, precision, mode,
                                                   row["ours"].get("batch", batch), a.reps,
                                                   a.rep_seconds, "cuda" if backend == "gpu" else "cpu")
                    except Exception as e:  # pylint: disable=broad-except  (reported, the run goes on)
                        row[who] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}
                ours_r, timm_r = row.get("ours", {}), row.get("timm", {})
                if "img_s_median" in ours_r and "img_s_median" in timm_r:
                    row["ours_vs_timm"] = round(ours_r["img_s_median"] / timm_r["img_s_median"], 3)
                rows.append(row)
    header = (f"{device.device_kind} ({backend}), JAX {jax.__version__}, Keras {keras.__version__}, "
              f"Python {platform.python_version()}; {time.monotonic() - start:.0f} s")
    print_table(rows, header)
    result = dict(device=device.device_kind, backend=backend, jax=jax.__version__, keras=keras.__version__,
                  tiny=a.tiny, seconds=round(time.monotonic() - start, 1),
                  tensorflow_imported="tensorflow" in sys.modules, rows=rows)
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    print(f"wrote {a.out}")
    return result


if __name__ == "__main__":
    main()
