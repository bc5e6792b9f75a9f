"""The competition metric (multiclass log loss, probabilities clipped as Kaggle does) and the class-prior baseline."""

from __future__ import annotations

import numpy as np

EPS = 1e-15


def log_loss(labels, probs) -> float:
    probs = np.clip(np.asarray(probs, dtype=np.float64), EPS, 1 - EPS)
    probs = probs / probs.sum(axis=1, keepdims=True)
    labels = np.asarray(labels, dtype=np.int64)
    return float(-np.mean(np.log(probs[np.arange(len(labels)), labels])))


def class_prior(labels) -> np.ndarray:
    """Class frequencies (A, B, tie)."""
    counts = np.bincount(np.asarray(labels), minlength=3).astype(np.float64)
    return counts / max(counts.sum(), 1.0)


def prior_log_loss(train_labels, eval_labels) -> float:
    """Log loss of predicting the training split's class frequencies for every evaluated row."""
    return log_loss(eval_labels, np.tile(class_prior(train_labels), (len(eval_labels), 1)))
