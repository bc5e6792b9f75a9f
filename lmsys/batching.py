"""Length buckets: pad each batch only to the nearest of a few fixed lengths.

The starter pads every pair to 512 tokens although the median is ~300. Rows are grouped by length
into a few buckets (e.g. 128/256/384/512) with about the same number of tokens per batch (more
rows in short buckets), so little padding is computed and XLA compiles one shape per bucket.
Training shuffles within and across buckets each epoch; prediction sorts by length and hands
rows back in their original order.
"""

from __future__ import annotations

import numpy as np

from lmsys.tokens import TokenizedPairs


def bucket_bounds(config) -> list[int]:
    """Padded lengths in use: the configured buckets up to sequence_length, which is always one."""
    bounds = sorted({int(b) for b in config.buckets if 0 < int(b) < config.sequence_length})
    return bounds + [int(config.sequence_length)]


def batch_size_for(length: int, config, multiple: int = 1) -> int:
    """Rows per batch at this padded length: a constant token budget, a multiple of the device count."""
    budget = config.tokens_per_batch or config.batch_size * config.sequence_length
    rows = max(1, budget // length)
    return max(multiple, rows // multiple * multiple)


def assign_buckets(lengths: np.ndarray, bounds: list[int]) -> np.ndarray:
    return np.searchsorted(np.asarray(bounds), lengths, side="left").clip(max=len(bounds) - 1)


def pad_pairs(pairs: TokenizedPairs, index, length: int) -> dict:
    """Inputs shaped (rows, 2, length) for the Siamese model."""
    token_ids = np.full((len(index), 2, length), pairs.pad_id, dtype=np.int32)
    for r, i in enumerate(index):
        for side, ids in enumerate((pairs.a[i], pairs.b[i])):
            n = min(len(ids), length)
            token_ids[r, side, :n] = ids[:n]
    return {"token_ids": token_ids, "padding_mask": (token_ids != pairs.pad_id)}


def training_plan(lengths: np.ndarray, config, rng: np.random.Generator, multiple: int = 1) -> list:
    """One epoch: list of (row indices, padded length), shuffled within and across buckets.

    Full batches only (the remainder of each bucket is left out this epoch, a different one next
    epoch), so every step has one of a few fixed shapes.
    """
    bounds = bucket_bounds(config)
    bucket = assign_buckets(lengths, bounds)
    plan = []
    for k, length in enumerate(bounds):
        rows = rng.permutation(np.flatnonzero(bucket == k))
        size = batch_size_for(length, config, multiple)
        for start in range(0, len(rows) - size + 1, size):
            plan.append((rows[start:start + size], length))
    order = rng.permutation(len(plan))
    return [plan[i] for i in order]


def epoch_size(lengths: np.ndarray, config, multiple: int = 1) -> tuple[int, int]:
    """(steps, rows) of one training epoch: full batches only, as training_plan makes them."""
    bounds = bucket_bounds(config)
    counts = np.bincount(assign_buckets(lengths, bounds), minlength=len(bounds))
    sizes = [batch_size_for(b, config, multiple) for b in bounds]
    steps = [int(c // size) for c, size in zip(counts, sizes)]
    return sum(steps), sum(n * size for n, size in zip(steps, sizes))


def prediction_plan(lengths: np.ndarray, config, multiple: int = 1) -> list:
    """Every row exactly once, sorted by length; the last batch of a bucket is padded with repeats
    of its own rows to keep the shape fixed (their outputs are dropped)."""
    bounds = bucket_bounds(config)
    order = np.argsort(lengths, kind="stable")
    bucket = assign_buckets(lengths[order], bounds)
    plan = []
    for k, length in enumerate(bounds):
        rows = order[bucket == k]
        size = batch_size_for(length, config, multiple)
        for start in range(0, len(rows), size):
            part = rows[start:start + size]
            real = len(part)
            if real < size:
                part = np.concatenate([part, np.resize(part, size - real)])
            plan.append((part, length, real))
    return plan


def padded_fraction(pairs: TokenizedPairs, config) -> float:
    """Share of computed token positions that are padding: each option of a pair is padded to the
    pair's bucket length."""
    bounds = np.asarray(bucket_bounds(config))
    padded = bounds[assign_buckets(pairs.lengths(), list(bounds))]
    real = sum(np.minimum(np.fromiter(map(len, side), np.int64, len(side)), padded).sum() for side in (pairs.a, pairs.b))
    return float(1.0 - real / (2 * padded.sum()))
