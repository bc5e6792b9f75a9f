"""Parse + clean + build options for 57k rows (the 999 real rows repeated, ids made unique); prints rows/s.

    .venv/bin/python bench/parse_bench.py [--rows 57477] [--tokenize]

Target (issue 2): >= 20,000 rows/s on the 2-core dev machine for parse + clean + options.
With --tokenize it also times tokenizing both options of every row with a tiny SentencePiece vocab
(target, issue 5: under 60 s for 57k rows).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import pandas as pd  # noqa: E402

from lmsys.data import load_competition_csv  # noqa: E402
from lmsys.data.options import build_options  # noqa: E402

REAL = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "train_sample.csv")


def make_big_csv(rows: int, directory: str) -> str:
    base = pd.read_csv(REAL, dtype=str, keep_default_na=False)
    reps = -(-rows // len(base))
    big = pd.concat([base] * reps, ignore_index=True).iloc[:rows].copy()
    big["id"] = range(1, len(big) + 1)
    path = os.path.join(directory, "train.csv")
    big.to_csv(path, index=False)
    return path


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=57_477)
    parser.add_argument("--tokenize", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = make_big_csv(args.rows, tmp)
        size_mb = os.path.getsize(path) / 1e6
        c0, t0 = time.process_time(), time.perf_counter()
        df = load_competition_csv(path)
        t1 = time.perf_counter()
        opt_a, opt_b = build_options(df, max_chars=512 * 5)
        c2, t2 = time.process_time(), time.perf_counter()
    print(f"rows {len(df)} ({size_mb:.0f} MB csv); parse+clean {t1 - t0:.2f} s; options {t2 - t1:.2f} s")
    print(f"parse + clean + options: {len(df) / (t2 - t0):,.0f} rows/s wall, {len(df) / (c2 - c0):,.0f} rows/s of CPU time "
          f"(target >= 20,000; the two differ when other processes share the cores; load average "
          f"{os.getloadavg()[0]:.1f})")
    if args.tokenize:
        os.environ.setdefault("KERAS_BACKEND", "jax")
        from lmsys.siamese.backbone import load_tokenizer
        from lmsys.siamese.train import default_config
        from lmsys.siamese.tokens import tokenize_pairs

        config = default_config("tiny", sequence_length=512)
        tokenizer = load_tokenizer("tiny", opt_a[:5000] + opt_b[:5000], config.tiny_backbone["vocabulary_size"])
        t3 = time.perf_counter()
        pairs = tokenize_pairs(df, config, tokenizer)
        t4 = time.perf_counter()
        print(f"tokenize {len(pairs)} pairs to <= 512 tokens (with per-turn budget refinement): {t4 - t3:.1f} s "
              f"({len(pairs) / (t4 - t3):,.0f} rows/s; target < 60 s for 57k rows)")


if __name__ == "__main__":
    main()
