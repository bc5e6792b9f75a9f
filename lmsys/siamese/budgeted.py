"""The Siamese model's prediction under a time budget (lmsys.evaluate.time_budget): its length buckets run
shortest first, the swapped pass runs only for rows that keep TTA, skipped rows get the fallback.

Options are cut to sequence_length when they are tokenized, so the budget's second step (shorter token
budgets) does not apply here: the floor is raised to the longest row and the steps left are dropping TTA
and, last, skipping rows. With nothing degraded the probabilities are predict_pairs_with_tta's.
"""

from __future__ import annotations

import numpy as np

from lmsys.data import swap_columns


def row_tokens(pairs, config, multiple: int = 1) -> np.ndarray:
    """Tokens each row costs in one pass: its share of its batch's padded tokens (both options, filler rows
    included), so that the budget's seconds per token is what the batches really cost."""
    from lmsys.siamese.batching import prediction_plan

    cost = np.zeros(len(pairs), dtype=np.int64)
    for index, shape, real in prediction_plan(pairs, config, multiple):
        per_row = (2 * shape if np.isscalar(shape) else sum(shape)) * len(index)
        cost[index[:real]] = -(-per_row // real)  # ceil
    return cost


def predict_pairs_within_budget(model, pairs, config, budget, tta: bool = True, multiple: int = 1, fallback=None):
    """(probabilities, budget.report()) for tokenized pairs; `budget` is a TimeBudget made at kernel start."""
    from lmsys.devices.distribute import place_batch
    from lmsys.evaluate.time_budget import predict_within_budget
    from lmsys.siamese.batching import batch_size_for, pad_batch, prediction_plan, row_shapes

    model.set_inference("plain")  # the budget decides TTA row by row: swapped rows are a second pass
    shapes = row_shapes(pairs, config)
    swapped = pairs.swapped()

    def run(source, rows, shape):
        size = batch_size_for(shape, config, multiple)
        index = np.concatenate([rows, np.resize(rows, size - len(rows))]) if len(rows) < size else rows
        out = np.asarray(model.predict_on_batch(place_batch(pad_batch(source, index, shape))), dtype=np.float64)
        out = out[:len(rows)]
        return out / out.sum(axis=1, keepdims=True)

    def predict_batch(rows, token_budget, use_tta):
        shape = shapes[rows[0]]
        probs = run(pairs, rows, shape)
        if use_tta.any():  # swapped rows have the same (short, long) shape
            probs[use_tta] = 0.5 * (probs[use_tta] + swap_columns(run(swapped, rows[use_tta], shape)))
        return probs

    lengths = row_tokens(pairs, config, multiple)
    budget.floor = max(budget.floor, int(lengths.max(initial=1)))
    batches = [index[:real] for index, _, real in prediction_plan(pairs, config, multiple)]
    return predict_within_budget(budget, lengths, predict_batch, tta=tta, fallback=fallback, batches=batches)
