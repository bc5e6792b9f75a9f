"""Training and prediction rows/s: the starter's fixed-512 pipeline against ours (length buckets + fast attention).

Not a test. In one run, on whatever device JAX sees, it times
  starter: every pair padded to --sequence-length (512), --batch-size (16) pairs per step, keras-hub attention;
  ours:    length buckets (--buckets, default Config.buckets), each option padded to its own bucket
           (--ours-padding pair: both to the longer one), with a constant token budget per batch
           (batch_size * sequence_length tokens), attention="fast" (lmsys.siamese.attention),
on the same rows (token lengths of the real rows in ../shared/data/train_sample.csv) and the same amount of data
(--steps of the starter's optimizer steps, i.e. steps * batch_size rows), and prints rows/s of both, their ratio,
the padded-token fraction of each and peak memory; for ours also `predict_tta_over_plain: R`, the prediction time
with swap TTA (one pass: each option encoded once, the head on [A, B] and [B, A]) over without, and the two-pass
TTA it replaced. Each pipeline runs in a child process of its own, so its peak
memory (JAX device memory_stats() peak_bytes_in_use where the device has it, else the process's max RSS) is its
own. XLA compile time is excluded: every batch shape is run once (train step and prediction) before timing.
Batches are padded before timing (host-side padding is not in the figures); both use lmsys.siamese.batching's plans.

Token ids come from one of two modes:
  --tokenize [--save-ids PATH]  build options (lmsys.data.options) and tokenize them with a tiny SentencePiece vocab
                                trained on the same texts (needs TensorFlow + tensorflow-text, as keras-hub's
                                tokenizer does); the ids are saved as .npz for the next mode.
  --ids PATH                    read saved ids: imports only numpy, JAX, Keras and keras-hub, never TensorFlow
                                (how the GPU machine runs it).
The real DeBERTa-v3 vocabulary is not available offline, so the ids come from the tiny vocab; only the lengths
matter for throughput (random weights), and ids >= the model's vocabulary size are folded into its range
(id % vocab, specials kept). The tiny vocab cuts text into more pieces than DeBERTa's 128k vocab would, so the
measured lengths are printed beside the field notes' approximation (characters / 4).

    KERAS_BACKEND=jax .venv/bin/python bench/throughput.py --tokenize --save-ids data/bench_ids.npz   # CPU, tiny
    python bench/throughput.py --ids bench_ids.npz --config extra_small --steps 40                   # GPU

On a shared CPU the wall-clock figures move with other processes' load: the load average and rows per
CPU-second (time.process_time of the timing loop, all threads summed) are printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

DEFAULT_CSV = os.path.join(ROOT, "..", "shared", "data", "train_sample.csv")
PIPELINES = ("starter", "ours")
# backbone sizes; tiny is Config.tiny_backbone widened to extra_small's head size (64) so attention matters
SIZES = {
    "tiny": dict(num_layers=2, num_heads=2, hidden_dim=128, intermediate_dim=512, bucket_size=64),
    "micro": dict(num_layers=1, num_heads=2, hidden_dim=32, intermediate_dim=64, bucket_size=16),  # tests only
    "extra_small": dict(num_layers=12, num_heads=6, hidden_dim=384, intermediate_dim=1536, bucket_size=256,
                        vocabulary_size=128100),
}
FORBIDDEN = ("tensorflow", "tensorflow_text", "tf_keras")  # what a machine with JAX + Keras + keras-hub lacks
SPECIAL_IDS = 5  # [PAD] [CLS] [SEP] [UNK] [MASK] keep their ids when folding into a smaller vocabulary


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--tokenize", action="store_true", help="tokenize --csv with a tiny SentencePiece vocab")
    src.add_argument("--ids", help="token ids saved earlier with --save-ids (no TensorFlow needed)")
    p.add_argument("--save-ids", help="with --tokenize: where to save the ids (.npz)")
    p.add_argument("--csv", default=DEFAULT_CSV, help="competition train csv (default: the real sample)")
    p.add_argument("--rows", type=int, default=0, help="with --tokenize: only the first N rows (0: all)")
    p.add_argument("--vocab", type=int, default=8000, help="tiny SentencePiece vocabulary size")
    p.add_argument("--config", choices=["auto", *SIZES], default="auto",
                   help="backbone size; auto: tiny on CPU, extra_small on an accelerator")
    p.add_argument("--precision", default="auto", help="auto | float32 | mixed_float16 | mixed_bfloat16")
    p.add_argument("--sequence-length", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=16, help="starter's pairs per step; ours keeps its tokens")
    p.add_argument("--buckets", default=None, help="ours' padded lengths, comma separated (default Config.buckets)")
    p.add_argument("--ours-padding", choices=["option", "pair"], default="option",
                   help="ours: pad each option to its own bucket (default), or both to the pair's longer one")
    p.add_argument("--steps", type=int, default=8, help="starter optimizer steps' worth of rows, for both")
    p.add_argument("--predict-rows", type=int, default=0, help="rows to predict (0: the training rows)")
    p.add_argument("--attention-dropout", choices=["on", "off"], default="on",
                   help="ours: 'off' skips dropout on attention probabilities (fused attention in training too)")
    p.add_argument("--ours-attention", choices=["fast", "keras_hub"], default="fast",
                   help="ours' attention; keras_hub times the length buckets alone")
    p.add_argument("--compile-threads", type=int, default=1,
                   help="1: compile each shape lazily (the default, as lmsys.train); N > 1: all up front, N at a "
                        "time (0: one per core, up to 4)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--child", choices=PIPELINES, help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.save_ids and not args.tokenize:
        p.error("--save-ids needs --tokenize")
    if args.steps < 1 or args.batch_size < 1:
        p.error("--steps and --batch-size must be at least 1")
    return args


def pipeline_config(name: str, args):
    """The lmsys Config each pipeline batches with; the starter is one 'bucket' at the full length."""
    from lmsys.config import Config

    base = Config(sequence_length=args.sequence_length, batch_size=args.batch_size, precision=args.precision)
    if name == "starter":
        return base.replace(buckets=[], attention="keras_hub", pad_each_option=False, length_features={})
    buckets = [int(b) for b in args.buckets.split(",")] if args.buckets else base.buckets
    return base.replace(buckets=buckets, attention=args.ours_attention, pad_each_option=args.ours_padding == "option")


class _ForbidTensorFlow:
    """Meta-path hook: importing TensorFlow fails as it does where it is not installed (keras-hub then goes
    without it), so the --ids path behaves here as on the GPU machine and a hard dependency shows at once."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in FORBIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r} (bench/throughput.py --ids runs without TensorFlow)")
        return None


def forbid_tensorflow() -> None:
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in FORBIDDEN)
    if loaded:
        raise RuntimeError(f"--ids must run without TensorFlow, but {loaded[:3]} are already imported")
    sys.meta_path.insert(0, _ForbidTensorFlow())


# ---------------------------------------------------------------- token ids: make, save, load

def tokenize_rows(args) -> dict:
    """Options of every row tokenized with a tiny vocab trained on them, plus the length approximations."""
    from lmsys.siamese.backbone import load_tokenizer
    from lmsys.config import Config
    from lmsys.data import load_competition_csv
    from lmsys.data.options import build_options, options_from_config
    from lmsys.siamese.tokens import tokenize_pairs, tokenize_texts

    df = load_competition_csv(args.csv)
    if args.rows:
        df = df.iloc[:args.rows]
    config = Config(sequence_length=args.sequence_length)
    t0 = time.perf_counter()
    opt_a, opt_b = options_from_config(df, config)
    tokenizer = load_tokenizer("tiny", opt_a + opt_b, args.vocab, args.seed)
    pairs = tokenize_pairs(df, config, tokenizer)
    seconds = time.perf_counter() - t0
    full_a, full_b = build_options(df, turns="all")  # no character budget: the whole conversation
    first_a, first_b = build_options(df, turns="first")
    full_tokens = [len(x) + 2 for x in tokenize_texts(tokenizer, full_a + full_b, desc="tokenize untruncated")]
    print(f"tokenized {len(df)} rows ({2 * len(df)} options) with a {tokenizer.vocabulary_size()}-piece vocab "
          f"in {seconds:.1f} s (vocab training included)")
    return {
        **_ragged("a", pairs.a), **_ragged("b", pairs.b),
        "labels": df["class_label"].to_numpy(np.int32), "pad_id": np.int32(pairs.pad_id),
        "vocab_size": np.int32(tokenizer.vocabulary_size()), "sequence_length": np.int32(args.sequence_length),
        "full_tokens": np.asarray(full_tokens, np.int32),
        "chars4_all": np.asarray([len(t) / 4 for t in full_a + full_b], np.float32),
        "chars4_first": np.asarray([len(t) / 4 for t in first_a + first_b], np.float32),
    }


def _ragged(side: str, arrays) -> dict:
    lengths = np.fromiter(map(len, arrays), np.int64, len(arrays))
    return {f"{side}_ids": np.concatenate(arrays).astype(np.int32), f"{side}_offsets": np.r_[0, np.cumsum(lengths)]}


def save_ids(path: str, arrays: dict) -> None:
    from lmsys.atomic import atomic_path

    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)


def load_ids(path: str) -> dict:
    required = ("a_ids", "a_offsets", "b_ids", "b_offsets", "labels", "pad_id", "vocab_size")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--ids {path}: no such file (make one with --tokenize --save-ids {path})")
    with np.load(path) as data:
        missing = [k for k in required if k not in data]
        if missing:
            raise ValueError(f"--ids {path}: missing array(s) {missing}; was it written by --save-ids?")
        return {k: data[k] for k in data.files}


def pairs_from(arrays: dict, vocab_size: int | None = None):
    """TokenizedPairs from saved arrays; ids folded into [0, vocab_size) when the model's vocabulary is smaller."""
    from lmsys.siamese.tokens import TokenizedPairs

    sides = []
    for side in ("a", "b"):
        ids, offsets = arrays[f"{side}_ids"], arrays[f"{side}_offsets"]
        if vocab_size is not None and ids.size and ids.max() >= vocab_size:
            ids = np.where(ids < vocab_size, ids, SPECIAL_IDS + ids % (vocab_size - SPECIAL_IDS)).astype(np.int32)
        sides.append([ids[offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)])
    return TokenizedPairs(sides[0], sides[1], pad_id=int(arrays["pad_id"]))


def pick_rows(n_rows: int, count: int, seed: int) -> np.ndarray:
    """`count` row indices in a seeded order, repeating the rows when more are asked than exist."""
    order = np.random.default_rng(seed).permutation(n_rows)
    return np.resize(order, count)


# ---------------------------------------------------------------- one pipeline (child process)

def _shape_key(batch: dict) -> tuple:
    return tuple(np.shape(v) for v in batch.values())


def run_pipeline(name: str, args) -> dict:
    import jax
    import keras
    import keras_hub

    from lmsys.siamese.attention import attention_implementation
    from lmsys.siamese.batching import pad_batch, prediction_plan, training_plan
    from lmsys.siamese.model import build_classifier, compile_classifier
    from lmsys.devices.precision import resolve_precision
    from lmsys.devices.precompile import precompile

    device = jax.devices()[0]
    size_name = args.config if args.config != "auto" else ("tiny" if device.platform == "cpu" else "extra_small")
    arrays = load_ids(args.ids)
    size = dict(SIZES[size_name])
    size.setdefault("vocabulary_size", int(arrays["vocab_size"]))
    pairs = pairs_from(arrays, size["vocabulary_size"])
    config = pipeline_config(name, args)
    if config.length_features:  # saved ids carry no text: zeros stand in (the head's cost is the same)
        pairs.lengths_a = pairs.lengths_b = np.zeros((len(pairs), len(config.length_features)), np.float32)
    policy = resolve_precision(args.precision)
    keras.config.set_dtype_policy(policy)
    keras.utils.set_random_seed(args.seed)

    train_rows = pick_rows(len(pairs), args.steps * args.batch_size, args.seed)
    predict_rows = pick_rows(len(pairs), args.predict_rows or len(train_rows), args.seed + 1)
    tr_pairs, pr_pairs = pairs.take(train_rows), pairs.take(predict_rows)
    labels = np.eye(3, dtype=np.float32)[arrays["labels"][train_rows]]
    plan = training_plan(tr_pairs, config, np.random.default_rng(args.seed))
    train_batches = [(pad_batch(tr_pairs, index, shape), labels[index], (np.arange(len(index)) < real).astype("float32"),
                      real) for index, shape, real in plan]  # filler rows of a group's last batch weigh 0
    predict_batches = [(pad_batch(pr_pairs, index, shape), real)
                       for index, shape, real in prediction_plan(pr_pairs, config)]

    with attention_implementation(config.attention, attention_dropout=args.attention_dropout == "on"):
        backbone = keras_hub.models.DebertaV3Backbone(max_sequence_length=args.sequence_length, **size)
    model = build_classifier(config, backbone)
    model.set_inference("plain")  # prediction rows/s without TTA; ours also times swap TTA below
    compile_classifier(model, config, total_steps=len(train_batches) + 8)

    compile_started = time.perf_counter()
    if args.compile_threads != 1:  # all programs up front (lmsys.devices.precompile); the loop below then only warms up
        precompile(model, train=[(x, y, w) for x, y, w, _ in train_batches],
                   predict=[x for x, _, _, _ in train_batches] + [x for x, _ in predict_batches],
                   workers=args.compile_threads)
    seen = set()
    for x, y, w, _ in train_batches:  # one step per distinct shape: XLA compiles here, outside the timing
        if _shape_key(x) not in seen:
            seen.add(_shape_key(x))
            model.train_on_batch(x, y, sample_weight=w)
            np.asarray(model.predict_on_batch(x))
    for x, _ in predict_batches:
        if _shape_key(x) not in seen:
            seen.add(_shape_key(x))
            np.asarray(model.predict_on_batch(x))
    compile_s = time.perf_counter() - compile_started

    wall0, cpu0 = time.perf_counter(), time.process_time()
    for x, y, w, _ in _progress(train_batches, f"{name} train"):
        model.train_on_batch(x, y, sample_weight=w)  # returns host values: every step is finished before the next starts
    train_wall, train_cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    predicted = 0
    for x, real in _progress(predict_batches, f"{name} predict"):
        np.asarray(model.predict_on_batch(x))
        predicted += real
    predict_wall, predict_cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    tta = time_tta(model, predict_batches, predict_wall, pr_pairs, config) if name == "ours" else {}

    trained = sum(real for *_, real in train_batches)
    stats = _device_memory(device)
    return {
        "pipeline": name, "device": f"{device.platform}:{getattr(device, 'device_kind', '')}",
        "config": size_name, "precision": policy, "attention": config.attention,
        "lengths": sorted({shape for _, shape, _ in plan}),
        "shapes": len(seen), "train_steps": len(train_batches), "train_rows": trained,
        "predict_rows": predicted, "compile_s": compile_s,
        "train_rows_s": trained / train_wall, "predict_rows_s": predicted / predict_wall,
        "train_rows_cpu_s": trained / max(train_cpu, 1e-9), "predict_rows_cpu_s": predicted / max(predict_cpu, 1e-9),
        "peak_bytes": stats if stats is not None else _max_rss_bytes(),
        "peak_kind": "device peak_bytes_in_use" if stats is not None else "process max RSS",
        "loadavg": os.getloadavg()[0], **tta,
    }


def time_tta(model, predict_batches, plain_wall: float, pairs, config) -> dict:
    """Prediction wall time with swap TTA over without (plain_wall), after compilation: one pass (each option
    encoded once, the head on [A, B] and [B, A]: inference "both") and, for reference, the two-pass TTA it
    replaced (the swapped rows predicted again; same shapes, so nothing new compiles for it)."""
    from lmsys.siamese.batching import pad_batch, prediction_plan

    swapped = [pad_batch(pairs.swapped(), index, shape) for index, shape, _ in prediction_plan(pairs, config)]
    wall0 = time.perf_counter()
    for (x, _), x_swapped in zip(_progress(predict_batches, "ours predict, two-pass TTA"), swapped):
        np.asarray(model.predict_on_batch(x))
        np.asarray(model.predict_on_batch(x_swapped))
    two_pass = time.perf_counter() - wall0
    model.set_inference("both")
    seen = set()
    for x, _ in predict_batches:  # compile the one-pass TTA program of every shape first
        if _shape_key(x) not in seen:
            seen.add(_shape_key(x))
            np.asarray(model.predict_on_batch(x))
    wall0 = time.perf_counter()
    for x, _ in _progress(predict_batches, "ours predict, one-pass TTA"):
        np.asarray(model.predict_on_batch(x))
    one_pass = time.perf_counter() - wall0
    return {"predict_plain_s": plain_wall, "predict_tta_s": one_pass, "predict_two_pass_tta_s": two_pass,
            "predict_tta_over_plain": one_pass / plain_wall, "predict_two_pass_tta_over_plain": two_pass / plain_wall}


def _progress(batches, desc):
    from tqdm.auto import tqdm

    return tqdm(batches, desc=desc, unit="batch", mininterval=2.0, file=sys.stderr)


def _device_memory(device):
    try:
        stats = device.memory_stats()
    except Exception:  # some backends do not implement it
        return None
    return int(stats["peak_bytes_in_use"]) if stats and "peak_bytes_in_use" in stats else None


def _max_rss_bytes() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux reports KiB


# ---------------------------------------------------------------- parent: lengths, padding, the two children

def describe(name: str, values) -> str:
    v = np.asarray(values, np.float64)
    q = np.percentile(v, [10, 50, 90])
    return (f"  {name:<44} median {q[1]:6.0f}  p10 {q[0]:6.0f}  p90 {q[2]:6.0f}  "
            f"> 512: {100 * np.mean(v > 512):4.1f}%")


def print_lengths(arrays: dict, pairs) -> None:
    print("token lengths per option (prompt + response, every turn unless noted):")
    if "chars4_first" in arrays:
        print(describe("field notes' approximation, chars/4, first turn", arrays["chars4_first"]))
        print(describe("field notes' approximation, chars/4, all turns", arrays["chars4_all"]))
    if "full_tokens" in arrays:
        print(describe("measured tokens (tiny vocab), untruncated", arrays["full_tokens"]))
    fed = np.r_[np.fromiter(map(len, pairs.a), np.int64), np.fromiter(map(len, pairs.b), np.int64)]
    print(describe("measured tokens as fed (budgeted to fit)", fed))
    print(describe("per pair, the longer option (padded length)", pairs.lengths()))


def run_child(name: str, argv: list, ids_path: str, workdir: str) -> dict:
    """One pipeline in a process of its own (its own peak memory), with this run's options."""
    result = os.path.join(workdir, f"{name}.json")
    argv = [a for a in argv if a != "--tokenize"]
    argv = _drop_option(argv, ("--ids", "--save-ids", "--csv", "--rows", "--vocab"))
    cmd = [sys.executable, os.path.abspath(__file__), *argv, "--ids", ids_path, "--child", name, "--result", result]
    print(f"\n--- {name}: child process", flush=True)
    done = subprocess.run(cmd)
    if done.returncode != 0:
        raise SystemExit(f"the {name} pipeline failed (exit {done.returncode}); its output is above")
    with open(result, encoding="utf-8") as fh:
        return json.load(fh)


def _drop_option(argv: list, names: tuple) -> list:
    """argv without the named options and their values (both `--x v` and `--x=v`)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in names:
            skip = True
        elif not a.startswith(tuple(n + "=" for n in names)):
            out.append(a)
    return out


def pair_padding_floor(pairs) -> float:
    """Padding that remains with one padded length per pair however fine the buckets: A and B differ in length."""
    a, b = pairs.option_lengths()
    return float(1.0 - (a + b).sum() / (2 * np.maximum(a, b).sum()))


def report(args, arrays, pairs, results: dict) -> None:
    from lmsys.siamese.batching import padded_fraction

    s, o = results["starter"], results["ours"]
    fractions = {name: padded_fraction(pairs, pipeline_config(name, args)) for name in PIPELINES}
    mib = 2 ** 20
    print(f"\n=== throughput: starter (fixed length, keras-hub attention) vs ours (buckets, {o['attention']} attention"
          f"{'' if o['attention'] == 'keras_hub' else ', attention-probability dropout ' + args.attention_dropout})")
    print(f"device {s['device']}; config {s['config']}; precision {s['precision']}; "
          f"sequence length {args.sequence_length}; starter batch {args.batch_size} pairs; "
          f"ours buckets {o['lengths']} at {args.batch_size * args.sequence_length} tokens per batch")
    print(f"rows: {s['train_rows']} trained by the starter in {s['train_steps']} steps, {o['train_rows']} by ours "
          f"in {o['train_steps']} steps (filler rows not counted); {s['predict_rows']} predicted by each")
    print(f"XLA compile time excluded: every shape compiled and warmed up first (starter {s['shapes']} shape(s), "
          f"{s['compile_s']:.1f} s; ours {o['shapes']}, {o['compile_s']:.1f} s; "
          f"{'lazily' if args.compile_threads == 1 else 'compiled in parallel threads'}); batches padded before timing")
    for what in ("train", "predict"):
        a, b = s[f"{what}_rows_s"], o[f"{what}_rows_s"]
        print(f"{what} rows/s: starter {a:,.1f}  ours {b:,.1f}  ratio {b / a:.2f}x")
    for what in ("train", "predict"):
        a, b = s[f"{what}_rows_cpu_s"], o[f"{what}_rows_cpu_s"]
        print(f"{what} rows per CPU-second (process_time, all threads): starter {a:,.1f}  ours {b:,.1f}  "
              f"ratio {b / a:.2f}x")
    print(f"padded-token fraction (all {len(pairs)} rows): starter {100 * fractions['starter']:.1f}%  "
          f"ours {100 * fractions['ours']:.1f}%")
    ours = pipeline_config("ours", args)
    print(f"ours' buckets with both options of a pair padded to the longer one's bucket: "
          f"{100 * padded_fraction(pairs, ours.replace(pad_each_option=False)):.1f}%, each option to its own: "
          f"{100 * padded_fraction(pairs, ours.replace(pad_each_option=True)):.1f}%; padding both options to the "
          f"pair's exact longer length leaves {100 * pair_padding_floor(pairs):.1f}% (A and B differ in length)")
    print(f"predict_tta_over_plain: {o['predict_tta_over_plain']:.2f}")
    print(f"ours' prediction with swap TTA in one pass (each option encoded once) over without: "
          f"{o['predict_tta_s']:.3f} s / {o['predict_plain_s']:.3f} s; the two-pass TTA it replaced: "
          f"{o['predict_two_pass_tta_s']:.3f} s ({o['predict_two_pass_tta_over_plain']:.2f}x)")
    print(f"peak memory ({s['peak_kind']}): starter {s['peak_bytes'] / mib:,.0f} MiB  "
          f"ours {o['peak_bytes'] / mib:,.0f} MiB")
    print(f"load average (1 min) at the end of each run: starter {s['loadavg']:.2f}  ours {o['loadavg']:.2f} "
          f"(on {os.cpu_count()} cores; wall-clock rows/s drop when other processes share them)")


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if not args.tokenize:
        forbid_tensorflow()
    if args.child:
        result = run_pipeline(args.child, args)
        from lmsys.atomic import write_json

        write_json(args.result, result)
        return 0
    with tempfile.TemporaryDirectory(prefix="throughput-") as workdir:
        if args.tokenize:
            ids_path = args.save_ids or os.path.join(workdir, "ids.npz")
            save_ids(ids_path, tokenize_rows(args))
            print(f"token ids saved to {ids_path}" + ("" if args.save_ids else " (temporary; keep them with --save-ids)"))
        else:
            ids_path = args.ids
        arrays = load_ids(ids_path)
        pairs = pairs_from(arrays)
        print_lengths(arrays, pairs)
        results = {name: run_child(name, argv, ids_path, workdir) for name in PIPELINES}
        report(args, arrays, pairs, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
