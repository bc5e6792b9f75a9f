"""Length-bucketed batches of judge sequences. Each row travels with its A/B swap in the same batch
(training: both labelled, the swap's label exchanged; prediction: swap TTA at no extra batches).

Sequences are right-padded to the nearest bucket so XLA compiles one step per bucket. A row and
its swap always have the same length (the template's allocation is symmetric), and at prediction
the pair is laid out in a canonical order, so a row and its swapped copy see bit-identical batches
and swap TTA is exactly symmetric.
"""

from __future__ import annotations

import numpy as np

from lmsys.data import SWAP_AB


def bucket_bounds(buckets, max_length: int) -> list[int]:
    bounds = sorted({int(b) for b in buckets if 0 < int(b) < max_length})
    return bounds + [int(max_length)]


def plan(lengths, bounds, rows: int, rng=None) -> list[tuple[np.ndarray, int, int]]:
    """(row indices, padded length, real rows) per batch; a group's last batch is filled up to `rows` with
    repeats of its own rows (zero weight). Shuffled within and across buckets when `rng` is given."""
    lengths = np.asarray(lengths)
    which = np.searchsorted(np.asarray(bounds), lengths, side="left").clip(max=len(bounds) - 1)
    batches = []
    for b, bound in enumerate(bounds):
        index = np.flatnonzero(which == b)
        if len(index) == 0:
            continue
        if rng is not None:
            index = rng.permutation(index)
        for s in range(0, len(index), rows):
            chunk = index[s:s + rows]
            real = len(chunk)
            if real < rows:
                chunk = np.concatenate([chunk, np.resize(index[:real], rows - real)])
            batches.append((chunk, int(bound), real))
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def pad(seqs, index, length: int) -> dict:
    ids = np.zeros((len(index), length), dtype=np.int32)
    mask = np.zeros((len(index), length), dtype=np.int32)
    for r, i in enumerate(index):
        seq = seqs[i][:length]
        ids[r, :len(seq)] = seq
        mask[r, :len(seq)] = 1
    return {"token_ids": ids, "padding_mask": mask}


def train_batch(seqs, swapped, y, index, length: int, real: int):
    """(x, y, sample_weight): the rows and their swaps (labels exchanged); filler rows weigh nothing."""
    x = pad(list(seqs) + list(swapped), np.concatenate([index, index + len(seqs)]), length)
    labels = np.concatenate([y[index], y[index][:, SWAP_AB]]).astype(np.float32)
    weight = (np.arange(len(index)) < real).astype(np.float32)
    return x, labels, np.concatenate([weight, weight])


def steps_per_epoch(seqs, config) -> int:
    return len(plan([len(s) for s in seqs], bucket_bounds(config.buckets, config.sequence_length), config.batch_size))


def training_batches(seqs, swapped, y, config, first_epoch: int = 0):
    """Endless (x, y, w) batches, epoch after epoch; the order of epoch e comes from (seed, e) alone,
    so a resumed run sees exactly the batches the killed one would have."""
    bounds = bucket_bounds(config.buckets, config.sequence_length)
    lengths = [len(s) for s in seqs]
    epoch = first_epoch
    while True:
        for index, length, real in plan(lengths, bounds, config.batch_size, np.random.default_rng([config.seed, epoch])):
            yield train_batch(seqs, swapped, y, index, length, real)
        epoch += 1


def predict_sequences(model, seqs, swapped=None, *, buckets, max_length: int, rows: int, verbose=0, rerun=None):
    """(probabilities of seqs, probabilities of swapped or None), rows in the given order. With swaps,
    each batch holds both orientations of its rows, each pair in a canonical order. Each batch is laid out
    over the devices of the current distribution. A batch whose real rows are not all finite goes to
    `rerun(batch) -> probabilities` (e.g. a float32 copy of the model); without one it is kept as it is."""
    bounds = bucket_bounds(buckets, max_length)
    n = len(seqs)
    batches = plan([len(s) for s in seqs], bounds, rows)
    if verbose:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc="predict", unit="batch")
    probs = np.zeros((n, 3), dtype=np.float64)
    probs_swapped = np.zeros((n, 3), dtype=np.float64) if swapped is not None else None
    def run(batch, real_rows):
        from lmsys.devices.distribute import place_batch

        out = np.asarray(model.predict_on_batch(place_batch(batch)), dtype=np.float64)
        if rerun is not None and not np.isfinite(out[real_rows]).all():
            out = np.asarray(rerun(batch), dtype=np.float64)
        return out

    for index, length, real in batches:
        if swapped is None:
            out = run(pad(seqs, index, length), np.arange(real))
            probs[index[:real]] = out[:real]
            continue
        flip = np.array([swapped[i].tobytes() < seqs[i].tobytes() for i in index])
        first = [swapped[i] if f else seqs[i] for i, f in zip(index, flip)]
        second = [seqs[i] if f else swapped[i] for i, f in zip(index, flip)]
        k = len(index)
        out = run(pad(first + second, np.arange(2 * k), length), np.r_[np.arange(real), k + np.arange(real)])
        plain = np.where(flip[:, None], out[k:], out[:k])
        swap = np.where(flip[:, None], out[:k], out[k:])
        probs[index[:real]] = plain[:real]
        probs_swapped[index[:real]] = swap[:real]
    return probs, probs_swapped


def tta_average(probs, probs_swapped) -> np.ndarray:
    """Average with the swapped prediction, its A/B columns exchanged back; rows sum to 1. Pass both raw
    (unnormalized the same way) so that predicting the swapped rows gives exactly the mirrored result."""
    out = 0.5 * (probs + probs_swapped[:, SWAP_AB])
    return out / out.sum(axis=1, keepdims=True)
