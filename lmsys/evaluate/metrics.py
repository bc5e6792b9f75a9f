"""The competition metric (multiclass log loss, probabilities clipped as Kaggle does) and the class-prior baseline."""

from __future__ import annotations

import numpy as np

EPS = 1e-15


def log_loss(labels, probs) -> float:
    return float(np.mean(row_log_loss(labels, probs)))


def row_log_loss(labels, probs) -> np.ndarray:
    """Each row's share of the log loss (the metric is their mean)."""
    probs = np.clip(np.asarray(probs, dtype=np.float64), EPS, 1 - EPS)
    probs = probs / probs.sum(axis=1, keepdims=True)
    labels = np.asarray(labels, dtype=np.int64)
    return -np.log(probs[np.arange(len(labels)), labels])


def class_prior(labels) -> np.ndarray:
    """Class frequencies (A, B, tie)."""
    counts = np.bincount(np.asarray(labels), minlength=3).astype(np.float64)
    return counts / max(counts.sum(), 1.0)


def prior_log_loss(train_labels, eval_labels) -> float:
    """Log loss of predicting the training split's class frequencies for every evaluated row."""
    return log_loss(eval_labels, np.tile(class_prior(train_labels), (len(eval_labels), 1)))


def gain_interval(labels, probs, baseline, level: float = 0.95, draws: int = 10_000, seed: int = 0) -> dict:
    """How much `probs` beats `baseline` (same rows) in log loss, with a paired bootstrap interval.

    On a few hundred validation rows a gain of 0.02 can be noise; resampling the rows' differences says
    whether it is (`p_not_better`: the share of resamples where the gain is <= 0)."""
    diff = row_log_loss(labels, baseline) - row_log_loss(labels, probs)
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(draws, len(diff)))].mean(axis=1)
    tail = (1 - level) / 2
    return {"gain": float(diff.mean()), "low": float(np.quantile(means, tail)),
            "high": float(np.quantile(means, 1 - tail)), "p_not_better": float(np.mean(means <= 0)),
            "rows": int(len(diff)), "level": level}
