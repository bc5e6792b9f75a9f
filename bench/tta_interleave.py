"""Swap-TTA prediction time over plain, interleaved: plain, one-pass TTA and two-pass TTA alternate for 4
rounds on already-compiled programs (two SiameseClassifier views of one tiny backbone), so a shared CPU's load
drift hits all three alike; wall and process-CPU ratios. Not a test.

    KERAS_BACKEND=jax python bench/throughput.py --tokenize --rows 300 --config tiny --steps 4 --save-ids IDS.npz
    KERAS_BACKEND=jax python bench/tta_interleave.py IDS.npz [ROWS]
"""
import os, time, numpy as np, keras, keras_hub, sys
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
IDS, ROWS = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 120
import importlib.util
spec = importlib.util.spec_from_file_location("tb", os.path.join(ROOT, "bench", "throughput.py")); tb = importlib.util.module_from_spec(spec); spec.loader.exec_module(tb)
from lmsys.siamese.model import SiameseClassifier
from lmsys.siamese.batching import pad_batch, prediction_plan
from lmsys.siamese.attention import attention_implementation
from lmsys.config import Config
keras.config.set_dtype_policy("float32")
arrays = tb.load_ids(IDS)
size = dict(tb.SIZES["tiny"]); size["vocabulary_size"] = int(arrays["vocab_size"])
pairs = tb.pairs_from(arrays, size["vocabulary_size"]).take(np.arange(min(ROWS, len(arrays['labels']))))
config = Config(sequence_length=512)
with attention_implementation("fast"):
    backbone = keras_hub.models.DebertaV3Backbone(max_sequence_length=512, **size)
plain = SiameseClassifier(backbone, inference="plain"); plain.build_for()
both = SiameseClassifier(backbone, inference="both"); both.build_for()
plan = prediction_plan(pairs, config)
batches = [pad_batch(pairs, i, s) for i, s, _ in plan]
swapped = [pad_batch(pairs.swapped(), i, s) for i, s, _ in plan]
for x, xs in zip(batches, swapped):
    plain.predict_on_batch(x); plain.predict_on_batch(xs); both.predict_on_batch(x)
t = {"plain": [0, 0], "one": [0, 0], "two": [0, 0]}
def run(name, fn):
    w, c = time.perf_counter(), time.process_time(); fn(); t[name][0] += time.perf_counter() - w; t[name][1] += time.process_time() - c
for r in range(4):
    run("plain", lambda: [np.asarray(plain.predict_on_batch(x)) for x in batches])
    run("one", lambda: [np.asarray(both.predict_on_batch(x)) for x in batches])
    run("two", lambda: [(np.asarray(plain.predict_on_batch(x)), np.asarray(plain.predict_on_batch(xs))) for x, xs in zip(batches, swapped)])
print(f"{len(pairs)} rows, {len(batches)} batches, 4 interleaved rounds; wall s {t}; "
      f"predict_tta_over_plain (wall) {t['one'][0]/t['plain'][0]:.3f}, (cpu) {t['one'][1]/t['plain'][1]:.3f}; "
      f"two-pass over plain (wall) {t['two'][0]/t['plain'][0]:.3f}, (cpu) {t['two'][1]/t['plain'][1]:.3f}")
