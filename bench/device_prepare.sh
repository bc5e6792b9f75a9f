#!/usr/bin/env bash
# Here (no GPU): everything bench/device_run.sh needs on the GPU machine, which has JAX but no Keras,
# keras-hub or TensorFlow. Writes (both git-ignored, so name them in the device tool's `carry`):
#   .whl/                 keras, keras-hub, namex, optree wheels for CPython 3.12 on x86-64 Linux
#   data/bench_ids.npz    token ids of the real rows (tokenized here, where TensorFlow is)
# Then: run(command="bash bench/device_run.sh", carry=[".whl", "data/bench_ids.npz"], timeout_s=600)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
version() { "$PY" -c "import importlib.metadata as m; print(m.version('$1'))"; }
mkdir -p .whl
for pkg in keras keras-hub namex optree; do
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "$pkg==$(version "$pkg")"
done
ls -1 .whl
if [ ! -f data/bench_ids.npz ]; then
  KERAS_BACKEND=jax "$PY" bench/throughput.py --tokenize --save-ids data/bench_ids.npz --steps 1 --config micro
fi
du -sh .whl data/bench_ids.npz
