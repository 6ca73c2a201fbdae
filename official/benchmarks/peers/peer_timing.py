"""Timing shared by the peer scripts: one untimed call, warm-up, repetitions, a RESULT line.

The peer scripts run in other systems' virtual environments, so this module imports
nothing beyond the standard library (it is found next to them on sys.path).

Example:
    >>> result = time_steps(step, images_per_step=32, reps=4, rep_seconds=8)
    >>> print_result(dict(system="timm", **result))
    RESULT {"system": "timm", "img_s_median": ...}
"""

import json
import resource
import statistics
import time


def time_steps(step, images_per_step, reps=4, rep_seconds=4.0, warmup=2):
    """images/s of `step()` (which must block until its work is done).

    The first call (tracing, compiling, autotuning) and `warmup` more are untimed; each
    repetition runs as many steps as fill about `rep_seconds`.
    """
    t0 = time.perf_counter()
    step()
    first = time.perf_counter() - t0
    for _ in range(warmup):
        step()
    t0 = time.perf_counter()
    step()
    steps = max(1, round(rep_seconds / max(time.perf_counter() - t0, 1e-6)))
    rates = []
    for r in range(reps):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        rates.append(images_per_step * steps / (time.perf_counter() - t0))
        print(f"rep {r}: {steps} steps  {rates[-1]:.2f} img/s", flush=True)
    return dict(reps=reps, steps_per_rep=steps, first_call_s=round(first, 2),
                img_s_median=round(statistics.median(rates), 3),
                img_s_min=round(min(rates), 3), img_s_max=round(max(rates), 3))


def print_result(result):
    """The last line of every peer script, read by tools/compare_performance.py."""
    result["maxrss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print("RESULT " + json.dumps(result), flush=True)
