"""Length buckets: pad each option only to the nearest of a few fixed lengths.

The starter pads every option to 512 tokens although the median is ~300. Each option is padded to
its own bucket (e.g. 128/256/384/512): a batch holds pairs whose shorter option falls in one bucket
and whose longer option falls in another, so a step has one of at most B*(B+1)/2 shapes and little
padding (A and B of a pair often differ a lot in length, so padding both to the longer one, as
`pad_each_option=False` does, wastes about a tenth of the tokens). Batches keep about the same
number of tokens (more rows in short buckets). Training shuffles within and across groups each
epoch; prediction sorts by length and hands rows back in their original order.

A batch is either the "pair" form, token_ids/padding_mask shaped (rows, 2, L), or the "split" form:
short_ids/short_mask (rows, Ls), long_ids/long_mask (rows, Ll) and a_is_long (rows,), telling which
of the two is option A. The model gives the same output for both. Either form carries `lengths`, (rows, 2, k)
float32 in A, B order, when the model reads length features (lmsys.siamese.lengths).
"""

from __future__ import annotations

import numpy as np

from lmsys.siamese.tokens import TokenizedPairs


def bucket_bounds(config) -> list[int]:
    """Padded lengths in use: the configured buckets up to sequence_length, which is always one."""
    bounds = sorted({int(b) for b in config.buckets if 0 < int(b) < config.sequence_length})
    return bounds + [int(config.sequence_length)]


def assign_buckets(lengths: np.ndarray, bounds: list[int]) -> np.ndarray:
    return np.searchsorted(np.asarray(bounds), lengths, side="left").clip(max=len(bounds) - 1)


def batch_size_for(shape, config, multiple: int = 1) -> int:
    """Rows per batch for a padded shape (one length, or (short, long)): a constant token budget
    (batch_size pairs at sequence_length), a multiple of the device count."""
    budget = config.tokens_per_batch or config.batch_size * config.sequence_length
    mean_length = shape if np.isscalar(shape) else sum(shape) / 2
    rows = max(1, int(budget // mean_length))
    return max(multiple, rows // multiple * multiple)


def row_shapes(pairs: TokenizedPairs, config) -> list:
    """Each row's padded shape: its bucketed (short, long) lengths, or one length for the pair form."""
    bounds = np.asarray(bucket_bounds(config))
    la, lb = pairs.option_lengths()
    if not config.pad_each_option:
        return bounds[assign_buckets(np.maximum(la, lb), list(bounds))].tolist()
    short = bounds[assign_buckets(np.minimum(la, lb), list(bounds))]
    long = bounds[assign_buckets(np.maximum(la, lb), list(bounds))]
    return list(zip(short.tolist(), long.tolist()))


def _groups(pairs: TokenizedPairs, config) -> dict:
    groups: dict = {}
    for i, shape in enumerate(row_shapes(pairs, config)):
        groups.setdefault(shape, []).append(i)
    return {shape: np.asarray(rows) for shape, rows in sorted(groups.items())}


def pad_pairs(pairs: TokenizedPairs, index, length: int) -> dict:
    """The pair form: inputs shaped (rows, 2, length)."""
    token_ids = np.full((len(index), 2, length), pairs.pad_id, dtype=np.int32)
    for r, i in enumerate(index):
        for side, ids in enumerate((pairs.a[i], pairs.b[i])):
            n = min(len(ids), length)
            token_ids[r, side, :n] = ids[:n]
    return _with_lengths({"token_ids": token_ids, "padding_mask": (token_ids != pairs.pad_id)}, pairs, index)


def _with_lengths(batch: dict, pairs: TokenizedPairs, index) -> dict:
    lengths = pairs.length_features(index)
    return batch if lengths is None else {**batch, "lengths": lengths}


def _pad(seqs, length: int, pad_id: int) -> np.ndarray:
    out = np.full((len(seqs), length), pad_id, dtype=np.int32)
    for r, ids in enumerate(seqs):
        n = min(len(ids), length)
        out[r, :n] = ids[:n]
    return out


def pad_split(pairs: TokenizedPairs, index, shape) -> dict:
    """The split form: each row's shorter option padded to shape[0], its longer one to shape[1]."""
    a_is_long = np.array([len(pairs.a[i]) > len(pairs.b[i]) for i in index], dtype=bool)
    short = [pairs.b[i] if flag else pairs.a[i] for i, flag in zip(index, a_is_long)]
    long = [pairs.a[i] if flag else pairs.b[i] for i, flag in zip(index, a_is_long)]
    short_ids, long_ids = _pad(short, shape[0], pairs.pad_id), _pad(long, shape[1], pairs.pad_id)
    return _with_lengths({"short_ids": short_ids, "short_mask": short_ids != pairs.pad_id,
                          "long_ids": long_ids, "long_mask": long_ids != pairs.pad_id, "a_is_long": a_is_long},
                         pairs, index)


def pad_batch(pairs: TokenizedPairs, index, shape) -> dict:
    """Model inputs for these rows at a shape from a plan."""
    return pad_pairs(pairs, index, shape) if np.isscalar(shape) else pad_split(pairs, index, shape)


def swap_sides(batch: dict, flip: np.ndarray) -> dict:
    """Exchange A and B in the rows where `flip` is set (training-time swap augmentation)."""
    def exchange(v):
        return np.where(flip[:, None, None], v[:, ::-1], v)

    if "a_is_long" in batch:
        out = {**batch, "a_is_long": batch["a_is_long"] ^ flip}
        if "lengths" in batch:
            out["lengths"] = exchange(batch["lengths"])
        return out
    return {k: exchange(v) for k, v in batch.items()}


def _batches(rows: np.ndarray, size: int, shape) -> list:
    """(indices, shape, real rows) batches of one group; the last is filled up to `size` with repeats
    of the group's own rows, which the caller weights 0 (training) or drops (prediction)."""
    out = []
    for start in range(0, len(rows), size):
        part = rows[start:start + size]
        real = len(part)
        if real < size:
            part = np.concatenate([part, np.resize(part, size - real)])
        out.append((part, shape, real))
    return out


def training_plan(pairs: TokenizedPairs, config, rng: np.random.Generator, multiple: int = 1) -> list:
    """One epoch: list of (row indices, shape, real rows), shuffled within and across groups.

    Every row is trained every epoch; each group's last batch is filled with repeats (weighted 0) so
    every step has one of a few fixed shapes.
    """
    plan = []
    for shape, rows in _groups(pairs, config).items():
        plan.extend(_batches(rng.permutation(rows), batch_size_for(shape, config, multiple), shape))
    order = rng.permutation(len(plan))
    return [plan[i] for i in order]


def steps_per_epoch(pairs: TokenizedPairs, config, multiple: int = 1) -> int:
    """Steps of one training epoch (every row once), as training_plan makes it."""
    return sum(-(-len(members) // batch_size_for(shape, config, multiple))
               for shape, members in _groups(pairs, config).items())


def prediction_plan(pairs: TokenizedPairs, config, multiple: int = 1) -> list:
    """Every row exactly once, as (row indices, shape, real rows), grouped by length; the filler rows
    of a group's last batch are to be dropped."""
    plan = []
    for shape, rows in _groups(pairs, config).items():
        plan.extend(_batches(rows, batch_size_for(shape, config, multiple), shape))
    return plan


def padded_fraction(pairs: TokenizedPairs, config) -> float:
    """Share of computed token positions that are padding under this configuration's batching."""
    la, lb = pairs.option_lengths()
    shapes = row_shapes(pairs, config)
    if config.pad_each_option:
        computed = sum(s + l for s, l in shapes)
    else:
        computed = 2 * sum(shapes)
    return float(1.0 - (la.sum() + lb.sum()) / computed)
