"""The float32 matrix-product ceiling of this CPU in GFLOP/s (numpy's BLAS), for scale.

Usage: python official/benchmarks/peers/matmul_ceiling.py [--threads 2] [--n 4096] [--reps 8]
Final line: RESULT {"gflops_median": ...}. Thread caps are set before numpy loads.
"""

import argparse
import os
import statistics
import time

from peer_timing import print_result

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=2)
p.add_argument("--n", type=int, default=4096)
p.add_argument("--reps", type=int, default=8)
a = p.parse_args()
for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[name] = str(a.threads)
import numpy as np  # noqa: E402  (after the thread caps)

rng = np.random.default_rng(0)
x, y = (rng.standard_normal((a.n, a.n), dtype=np.float32) for _ in range(2))
out = np.empty_like(x)
np.matmul(x, y, out=out)                       # warm-up: BLAS threads, pages
rates = []
for _ in range(a.reps):
    t0 = time.perf_counter()
    np.matmul(x, y, out=out)
    rates.append(2.0 * a.n ** 3 / (time.perf_counter() - t0) / 1e9)
print_result(dict(lib="numpy " + np.__version__, threads=a.threads, n=a.n,
                  gflops_median=round(statistics.median(rates), 2), gflops_max=round(max(rates), 2)))
