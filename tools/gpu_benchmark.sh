#!/usr/bin/env bash
# tools/gpu_benchmark.py on a machine with JAX but without Keras and without a registry
# (the lent GPU machine): installs the wheels carried in .whl/ into /tmp/site, puts that
# on PYTHONPATH and runs the script with the arguments given. Fetch the wheels here first
# (the script's docstring and docs/performance.md say how):
#
#   bash tools/gpu_benchmark.sh --out=$OUT/gpu.json
#
# WHEELS (default .whl), SITE (default /tmp/site) and PYTHON (default python3) override.
set -euo pipefail
cd "$(dirname "$0")/.."
wheels="${WHEELS:-.whl}"
site="${SITE:-/tmp/site}"
python="${PYTHON:-python3}"
shopt -s nullglob
found=("$wheels"/*.whl)
if (( ${#found[@]} )); then
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target "$site" "${found[@]}"
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
else
  echo "no wheels in $wheels/: using the Keras already installed" >&2
fi
exec "$python" tools/gpu_benchmark.py "$@"
