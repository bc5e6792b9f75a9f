#!/usr/bin/env bash
# On the GPU machine (JAX with CUDA, no Keras / keras-hub / TensorFlow), after bench/device_prepare.sh here:
# installs the carried wheels, then runs issue 5's two GPU measurements with extra_small, bf16:
#   bench/throughput.py   starter (fixed 512, keras-hub attention) vs ours: train and predict rows/s
#   bench/attention_bench.py  one attention layer: keras-hub's vs the fast one (XLA and cuDNN kernels)
# and issue 11/12's LLM figure (llm): a Gemma-2-9B-shaped random model, 1 row x 1,024 tokens, bf16, LoRA r16,
# train and predict tokens/s (target >= 9,000 on one H100), then the planner's T4 x2 estimate (--plan).
# Usage: bash bench/device_run.sh [throughput|attention|llm|all]   (default all = throughput + attention;
# each fits one 10-minute call alone; llm wants the 80 GB of an H100 or more)
# Logs go to $OUT (the device tool brings them back), else to bench-out/.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench-out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  || exit 1
export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax PYTHONUNBUFFERED=1
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; nproc;
  python3 -c "import jax, keras, keras_hub; print('jax', jax.__version__, jax.devices(), 'keras', keras.__version__, 'keras-hub', keras_hub.__version__)"; } \
  2>&1 | tee "$OUT/device.txt"
WHAT=${1:-all}
STEPS=${STEPS:-62}
CONFIG=${CONFIG:-extra_small}  # CONFIG=micro SIZE=small IMPLS=keras_hub,fast PRECISION=float32: a CPU dry run
SIZE=${SIZE:-extra_small}
IMPLS=${IMPLS:-keras_hub,fast,fast_nodrop,fast_cudnn}
PRECISION=${PRECISION:-mixed_bfloat16}
if [ "$WHAT" = llm ]; then
  python3 bench/llm_throughput.py --size gemma2_9b --synthetic --rows 1 --length 1024 --dtype bfloat16 --rank 16 \
    --steps "${LLM_STEPS:-10}" --plan 2>&1 | tee "$OUT/llm.log"
  exit
fi
[ "$WHAT" = attention ] || python3 bench/throughput.py --ids data/bench_ids.npz --config "$CONFIG" --precision "$PRECISION" --steps "$STEPS" \
  --compile-threads "${COMPILE_THREADS:-4}" \
  2>&1 | tee "$OUT/throughput.log"
[ "$WHAT" = throughput ] || python3 bench/attention_bench.py --size "$SIZE" --dtype "$PRECISION" --batch 32 \
  --implementations "$IMPLS" 2>&1 | tee "$OUT/attention.log"
