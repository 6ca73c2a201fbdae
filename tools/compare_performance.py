r"""Our throughput against the Model Garden's (and timm's), interleaved on this machine.

Runs each configuration as its own process, alternating systems (ours, Garden, ours,
Garden, ...) so that a noisy neighbour hits both alike, measures the float32
matrix-product ceiling in the same run (`matmul_ceiling.py --lib numpy`), and prints a
Markdown table of medians, ratios (per interleaved pair, then the median of the
pair ratios) and the fraction of the ceiling, plus one JSON line. With --conv_floor
(default) the first of our runs of each mode also times the model's convolutions alone
(tools/benchmark.py --conv_floor): the speed no step built on the same convolution
kernels can pass, and which share of it each system reaches.

The Garden and timm scripts live in ../shared/bench/ and need their own virtual
environments (tf-models-official pins TensorFlow 2.20; timm needs torch):

    python tools/compare_performance.py --garden_python=/work/gardenvenv/bin/python \
        --pairs=3 --modes=train,infer,infer_b1 [--timm_python=/path/to/torch/venv/python]

FLOPs per image (RS-50 @ 160): 4.567 G forward, 13.70 G per training image (3x forward).
"""

import json
import os
import statistics
import subprocess
import sys

from absl import app
from absl import flags

FLAGS = flags.FLAGS
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
flags.DEFINE_string("bench_dir", os.path.join(ROOT, "..", "shared", "bench"),
                    "Folder with garden_resnetrs.py, timm_resnetrs.py, matmul_ceiling.py.")
flags.DEFINE_string("garden_python", "", "Python of a venv with tf-models-official ('' skips).")
flags.DEFINE_string("timm_python", "", "Python of a venv with torch + timm ('' skips).")
flags.DEFINE_integer("pairs", 3, "Interleaved repetitions of each A/B pair.")
flags.DEFINE_list("modes", ["train", "infer", "infer_b1"],
                  "train (b32; our step with its EMA), train_noema (b32; our step without the EMA, "
                  "like the Garden/timm scripts' steps), infer (b32), infer_b1; train_bf16, "
                  "infer_bf16, infer_b1_bf16: ours in bfloat16 against their float32 (list "
                  "the float32 mode too: they are not run again).")
flags.DEFINE_list("timm_modes", ["train", "infer", "infer_b1"], "Modes timm runs in (with --timm_python).")
flags.DEFINE_integer("image_size", 160, "Input side (ResNet-RS-50).")
flags.DEFINE_integer("threads", 2, "Threads for every system.")
flags.DEFINE_string("precision", "float32", "Our precision (float32 | bfloat16).")
flags.DEFINE_bool("conv_floor", True, "Also time our convolutions alone (first pair of each mode).")
flags.DEFINE_string("extra", "", "Extra flags for our benchmark (e.g. --fused_batch_norm=false).")

# --modes -> (our benchmark's --mode, batch size, our extra flags). The _bf16 modes run our
# mixed_bfloat16 path against the others' float32 (their scripts have no bfloat16 path).
MODES = {"train": ("train", 32, ()), "train_noema": ("train", 32, ("--ema=false",)),
         "infer": ("infer", 32, ()), "infer_b1": ("infer", 1, ()),
         "train_bf16": ("train", 32, ("--precision=bfloat16",)),
         "infer_bf16": ("infer", 32, ("--precision=bfloat16",)),
         "infer_b1_bf16": ("infer", 1, ("--precision=bfloat16",))}
FORWARD_GFLOP = 4.567  # RS-50 @ 160, fact sheet §1.11 / ANCHORS §2


def _run(cmd, foreign=False, drop_env=()):
    """Runs one measurement process; `foreign` ones must not see our `official` package
    (the Garden's package has the same name), so they get no PYTHONPATH and another cwd."""
    print("$", " ".join(cmd), file=sys.stderr, flush=True)
    env = dict(os.environ)
    if foreign:
        env.pop("PYTHONPATH", None)
    for name in drop_env:
        env.pop(name, None)
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False,
                         cwd=FLAGS.bench_dir if foreign else ROOT)
    text = out.stdout + out.stderr
    if out.returncode != 0:
        raise RuntimeError(f"{cmd[0]} exited {out.returncode}:\n{text[-3000:]}")
    return text


def _last_json(text, prefix=""):
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith(prefix + "{"):
            return json.loads(line[len(prefix):])
    raise RuntimeError(f"no JSON result in output:\n{text[-2000:]}")


def ours(mode, batch, extra=()):
    """(images/s, peak RSS MiB, convolutions-alone images/s or None)."""
    cmd = [sys.executable, os.path.join(ROOT, "tools", "benchmark.py"), f"--mode={mode}",
           f"--batch_size={batch}", f"--image_size={FLAGS.image_size}", f"--threads={FLAGS.threads}",
           "--reps=4", "--rep_seconds=8" if mode == "train" else
           "--rep_seconds=4"] + list(extra) + ([FLAGS.extra] if FLAGS.extra else [])
    r = _last_json(_run(cmd))
    return r["img_s_median"], r["maxrss_mib"], r.get("conv_floor_img_s")


def garden(mode, batch):
    cmd = [FLAGS.garden_python, os.path.join(FLAGS.bench_dir, "garden_resnetrs.py"), "--mode", mode,
           "--batch", str(batch), "--size", str(FLAGS.image_size), "--reps", "4",
           "--rep-seconds", "8" if mode == "train" else "4"]
    r = _last_json(_run(cmd, foreign=True), "RESULT ")
    return r.get("img_s_median", r.get("median")), r.get("maxrss_mib")


def timm(mode, batch):
    cmd = [FLAGS.timm_python, os.path.join(FLAGS.bench_dir, "timm_resnetrs.py"), "--stub-torchvision",
           "--mode", mode, "--batch", str(batch), "--size", str(FLAGS.image_size),
           "--channels-last", "--threads", str(FLAGS.threads)]
    if batch > 1:
        cmd.append("--compile")
    r = _last_json(_run(cmd, foreign=True), "RESULT ")
    return r.get("img_s_median", r.get("median")), r.get("maxrss_mib")


def ceiling():
    cmd = [sys.executable, os.path.join(FLAGS.bench_dir, "matmul_ceiling.py"), "--lib", "numpy",
           "--threads", str(FLAGS.threads)]
    # Some hosts pin OpenBLAS to an older kernel (OPENBLAS_CORETYPE=Haswell) to dodge bugs of
    # old builds; numpy's current OpenBLAS picks the CPU's own (SkylakeX on AVX-512 CPUs,
    # twice the Haswell kernel's speed there), and the ceiling must be the CPU's, not the pin's.
    r = _last_json(_run(cmd, foreign=True, drop_env=("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")),
                   "RESULT ")
    return r.get("gflops_median", r.get("median"))


def main(argv):
    del argv
    # The ceiling before and after (the higher: a co-tenant only ever lowers it).
    unknown = set(FLAGS.modes) - set(MODES)
    if unknown:
        raise app.UsageError(f"--modes: unknown {sorted(unknown)}; choose from {list(MODES)}")
    gflops_before = ceiling()
    others = [("garden", garden)] if FLAGS.garden_python else []
    if FLAGS.timm_python:
        others.append(("timm", timm))
    rows = []
    for mode in FLAGS.modes:
        kind, batch, extra = MODES[mode]
        extra = [f"--precision={FLAGS.precision}", *extra]     # a mode's own precision wins
        results = {"ours": []}
        ratios = {name: [] for name, _ in others}
        for pair in range(FLAGS.pairs):
            mine = ours(kind, batch, extra + (["--conv_floor"] if FLAGS.conv_floor and pair == 0 else []))
            results["ours"].append(mine)
            print(f"  {mode} ours: {mine}", file=sys.stderr, flush=True)
            for name, fn in others:
                if mode.endswith("_bf16") or (name == "timm" and mode not in FLAGS.timm_modes):
                    continue   # _bf16 modes: against their float32 numbers of the same run (below)
                theirs = fn(kind, batch)
                results.setdefault(name, []).append(theirs)
                print(f"  {mode} {name}: {theirs}", file=sys.stderr, flush=True)
                ratios[name].append(mine[0] / theirs[0])
        ratios = {k: v for k, v in ratios.items() if v}
        flop = FORWARD_GFLOP * (3 if kind == "train" else 1)
        med = {k: statistics.median(v[0] for v in vals) for k, vals in results.items()}
        rss = {k: max(v[1] or 0 for v in vals) for k, vals in results.items()}
        floor = results["ours"][0][2]
        rows.append(dict(mode=mode, batch=batch, img_s=med, maxrss_mib=rss, conv_floor_img_s=floor,
                         of_conv_floor={k: round(v / floor, 3) for k, v in med.items()} if floor else {},
                         ratio_vs={k: round(statistics.median(v), 3) for k, v in ratios.items()},
                         gflop_per_img=flop))
    gflops_after = ceiling()
    gflops = max(gflops_before, gflops_after)
    for r in rows:
        r["ours_fraction_of_ceiling"] = round(r["img_s"]["ours"] * r["gflop_per_img"] / gflops, 3)
    by_mode = {r["mode"]: r for r in rows}
    for r in rows:
        base = by_mode.get(r["mode"].replace("_bf16", ""))
        if r["mode"].endswith("_bf16") and base:
            r["ours_bf16_vs_float32"] = round(r["img_s"]["ours"] / base["img_s"]["ours"], 3)
            for name, value in base["img_s"].items():
                if name != "ours":    # medians of the same run, not interleaved pairs
                    r["ratio_vs"][name] = round(r["img_s"]["ours"] / value, 3)
    with open("/proc/cpuinfo") as f:
        info = dict(line.split(":", 1) for line in f if ":" in line)   # every CPU lists the same
    info = {k.strip(): v.strip() for k, v in info.items()}
    cpu = info.get("model name", "?")
    isa = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in info.get("flags", "").split()]
    print(f"\nCPU: {cpu}, {os.cpu_count()} CPUs, {' '.join(isa)}")
    print(f"numpy sgemm ceiling: {gflops:.1f} GFLOP/s ({gflops_before:.1f} before, {gflops_after:.1f} "
          f"after), {FLAGS.threads} threads\n")
    names = ["ours"] + [n for n, _ in others]
    print("| mode | " + " | ".join(f"{n} img/s" for n in names) + " | " +
          " | ".join(f"ours/{n}" for n, _ in others) + " | ours % of ceiling | peak RSS MiB (" +
          ", ".join(names) + ") |")
    print("|" + "---|" * (3 + 2 * len(others) + 1))
    for r in rows:
        cell = lambda d, n, f: format(d[n], f) if n in d else "-"  # noqa: E731
        print(f"| {r['mode']} | " + " | ".join(cell(r["img_s"], n, ".2f") for n in names) + " | " +
              " | ".join(cell(r["ratio_vs"], n, ".2f") for n, _ in others) +
              f" | {100 * r['ours_fraction_of_ceiling']:.0f}% | " +
              ", ".join(cell(r["maxrss_mib"], n, ".0f") for n in names) + " |")
    for r in rows:
        if r["conv_floor_img_s"]:
            print(f"{r['mode']}: our convolutions alone {r['conv_floor_img_s']:.2f} img/s; share reached: " +
                  ", ".join(f"{n} {100 * v:.0f}%" for n, v in r["of_conv_floor"].items()))
    for r in rows:
        if "ours_bf16_vs_float32" in r:
            print(f"ours bfloat16 / float32, {r['mode']}: {r['ours_bf16_vs_float32']:.2f}")
    print(json.dumps(dict(ceiling_gflops=gflops, ceiling_before=gflops_before, ceiling_after=gflops_after,
                          rows=rows)))


def run():
    """The console script (pyproject.toml [project.scripts])."""
    if __package__:  # installed: --help should list this tool's flags, not the stub's
        from tools import show_flags_in_help  # pylint: disable=g-import-not-at-top
        show_flags_in_help(__name__)
    app.run(main)


if __name__ == "__main__":
    run()
