"""Training and prediction tokens/s of the LLM family's classifier (LoRA + last-token head), random weights.

Not a test. On whatever device JAX sees it builds the backbone (--size tiny: the family's tiny Gemma-2-shaped
model; --size gemma2_9b: Gemma-2-9B's shape, 9.24B parameters, random weights), enables LoRA (--rank, every
projection), compiles one train step and one prediction step for --rows sequences x --length tokens, then times
--steps of each and prints tokens/s, the device, peak memory and the load average.

Token ids come from one of three modes, none of which imports TensorFlow except --tokenize:
  --synthetic                every sequence is --length random ids (the GPU figure: 1 x 1,024, bfloat16, r16)
  --tokenize [--save-ids P]  judge sequences (lmsys.llm.template) of the real rows in ../shared/data/train_sample.csv
                             with a tiny Gemma-id vocabulary trained on them (keras-hub's tokenizer needs TF);
                             saved as .npz for the next mode
  --ids P                    those saved sequences: only numpy, JAX, Keras and keras-hub are imported
Sequences are padded (or cut) to --length; ids >= the vocabulary are folded into it.

    KERAS_BACKEND=jax python bench/llm_throughput.py --size tiny --tokenize --save-ids /tmp/llm_ids.npz
    python bench/llm_throughput.py --size gemma2_9b --synthetic --rows 1 --length 1024 --dtype bfloat16 --rank 16
keras-hub's own figure for Gemma-2-9B LoRA r16, 1 x 1,024 on one H100: 9,002 tokens/s (target >= 9,000).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

DEFAULT_CSV = os.path.join(ROOT, "..", "shared", "data", "train_sample.csv")


def tokenized_ids(csv: str, length: int, vocab_size: int) -> list[np.ndarray]:
    from lmsys.data import load_competition_csv
    from lmsys.llm.backbone import tiny_tokenizer
    from lmsys.llm.template import row_and_swap_sequences, template_for

    df = load_competition_csv(csv)
    texts = [t for c in ("prompt", "response_a", "response_b") for turns in df[c] for t in turns if t]
    template = template_for(tiny_tokenizer(texts, vocab_size))
    seqs, swapped = row_and_swap_sequences(template, df, length, min(256, length // 4))
    return seqs + swapped


def batches(seqs, rows: int, length: int, vocab: int, count: int):
    out = []
    for k in range(count):
        ids = np.zeros((rows, length), dtype=np.int32)
        mask = np.zeros((rows, length), dtype=np.int32)
        for r in range(rows):
            seq = np.asarray(seqs[(k * rows + r) % len(seqs)][:length]) % vocab
            ids[r, :len(seq)], mask[r, :len(seq)] = seq, 1
        out.append({"token_ids": ids, "padding_mask": mask})
    return out


def peak_memory() -> str:
    import jax

    stats = getattr(jax.devices()[0], "memory_stats", lambda: None)() or {}
    if "peak_bytes_in_use" in stats:
        return f"device peak {stats['peak_bytes_in_use'] / 2**30:.2f} GiB"
    return f"process max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", choices=("tiny", "gemma2_9b"), default="tiny")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--synthetic", action="store_true")
    mode.add_argument("--tokenize", action="store_true")
    mode.add_argument("--ids")
    parser.add_argument("--save-ids")
    parser.add_argument("--csv", default=DEFAULT_CSV)
    parser.add_argument("--rows", type=int, default=None, help="sequences per step (tiny: 32, gemma2_9b: 1)")
    parser.add_argument("--length", type=int, default=None, help="tokens per sequence (tiny: 256, gemma2_9b: 1024)")
    parser.add_argument("--dtype", default=None, help="backbone dtype (default bfloat16 on GPU/TPU, else float32)")
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--plan", action="store_true",
                        help="also print bench/llm_plan.py's choice and estimated hours for 25,000 rows on T4 x2, at "
                             "this run's predict tokens/s for gemma2_9b, else at the stated (FLOP-based) rate")
    args = parser.parse_args(argv)

    import jax
    import keras
    import keras_hub

    from lmsys.llm.model import build_classifier, compile_classifier
    from lmsys.llm.presets import GEMMA2_9B, TINY_LLM
    from lmsys.llm.train import default_config

    device = jax.devices()[0]
    big = args.size == "gemma2_9b"
    rows = args.rows or (1 if big else 32)
    length = args.length or (1024 if big else 256)
    dtype = args.dtype or ("bfloat16" if device.platform in ("gpu", "tpu") else "float32")
    shape = dict(GEMMA2_9B if big else TINY_LLM)
    vocab = shape["vocabulary_size"]

    if args.synthetic:
        rng = np.random.default_rng(0)
        seqs = [rng.integers(10, vocab, size=length) for _ in range(rows * 4)]
    elif args.tokenize:
        seqs = tokenized_ids(args.csv, length, TINY_LLM["vocabulary_size"])
        if args.save_ids:
            np.savez(args.save_ids, *seqs)
    else:
        with np.load(args.ids) as data:
            seqs = [data[k] for k in data.files]
    loaded = sys.modules.get("tensorflow") is not None
    train_batches = batches(seqs, rows, length, vocab, args.steps + 1)

    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.GemmaBackbone(**shape, dtype=dtype)
    model, targets = build_classifier(backbone, args.rank, [])
    config = default_config("tiny", learning_rate=1e-4)
    compile_classifier(model, config, total_steps=1000)
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    y = np.eye(3, dtype=np.float32)[np.arange(rows) % 3]

    def timed(fn):
        fn(train_batches[0])  # compile
        jax.block_until_ready(model.trainable_variables[0].value)
        start, cpu = time.perf_counter(), time.process_time()
        for batch in train_batches[1:]:
            out = fn(batch)
        np.asarray(out)
        return time.perf_counter() - start, time.process_time() - cpu

    train_s, train_cpu = timed(lambda b: model.train_on_batch(b, y))
    predict_s, predict_cpu = timed(lambda b: model.predict_on_batch(b))
    real = sum(int(b["padding_mask"].sum()) for b in train_batches[1:])
    padded = args.steps * rows * length
    result = {
        "device": f"{device.platform} {getattr(device, 'device_kind', '')} x{len(jax.devices())}",
        "size": args.size, "params": model.count_params(), "trainable": trainable, "dtype": dtype,
        "lora_rank": args.rank, "rows": rows, "length": length, "steps": args.steps,
        "train_tokens_per_s": padded / train_s, "predict_tokens_per_s": padded / predict_s,
        "train_step_ms": 1000 * train_s / args.steps, "predict_step_ms": 1000 * predict_s / args.steps,
        "real_token_fraction": real / padded, "train_cpu_s": train_cpu, "predict_cpu_s": predict_cpu,
        "memory": peak_memory(), "load_average": os.getloadavg(), "tensorflow_imported": loaded,
    }
    print(f"device: {result['device']}; {args.size} ({result['params']:,} params, {trainable:,} trainable, LoRA r{args.rank}"
          f" on {len(targets)} projections), {dtype}, {rows} x {length} tokens per step")
    print(f"train:   {result['train_tokens_per_s']:,.0f} tokens/s ({result['train_step_ms']:.1f} ms/step)")
    print(f"predict: {result['predict_tokens_per_s']:,.0f} tokens/s ({result['predict_step_ms']:.1f} ms/step)")
    print(f"{result['memory']}; load average {result['load_average'][0]:.2f}; "
          f"tokens/s count padded tokens ({result['real_token_fraction']:.0%} real)")
    if args.plan:
        import importlib.util

        spec = importlib.util.spec_from_file_location("llm_plan", os.path.join(os.path.dirname(__file__), "llm_plan.py"))
        llm_plan = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(llm_plan)
        plan_args = ["--models", "gemma2 9B"] if args.size == "gemma2_9b" else []
        if args.size == "gemma2_9b":  # measured on this device, not on a T4: the estimate says which rate it used
            plan_args += ["--tokens-per-second", str(result["predict_tokens_per_s"])]
        llm_plan.main(plan_args)
    return result


if __name__ == "__main__":
    main()
