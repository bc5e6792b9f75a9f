"""The competition's columns, defined once, and the A/B swap on them (one spelling for every family).

Exchanging responses A and B maps class 0 (A wins) to 1, 1 to 0 and leaves 2 (tie); the same
permutation swaps the probability columns back after a swapped prediction.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TEXT_COLUMNS = ("prompt", "response_a", "response_b")
LABEL_COLUMNS = ("winner_model_a", "winner_model_b", "winner_tie")
CLASS_NAMES = LABEL_COLUMNS
TRAIN_COLUMNS = ("id", "model_a", "model_b", *TEXT_COLUMNS, *LABEL_COLUMNS)
TEST_COLUMNS = ("id", *TEXT_COLUMNS)
SUBMISSION_COLUMNS = ("id", *LABEL_COLUMNS)

SWAP_AB = np.array([1, 0, 2])  # class index after exchanging A and B; also the column order that swaps back


def swap_labels(labels) -> np.ndarray:
    """Class labels (0/1/2) of the same rows with A and B exchanged."""
    return SWAP_AB[np.asarray(labels)]


def swap_columns(values) -> np.ndarray:
    """(n, 3) probabilities or one-hot labels with the A and B columns exchanged."""
    return np.asarray(values)[..., SWAP_AB]


def swap_frame(df: pd.DataFrame) -> pd.DataFrame:
    """The same rows with response A and B (and model_a/model_b, the labels) exchanged."""
    out = df.copy()
    out["response_a"], out["response_b"] = df["response_b"], df["response_a"]
    if "model_a" in df.columns and "model_b" in df.columns:
        out["model_a"], out["model_b"] = df["model_b"], df["model_a"]
    if "class_label" in df.columns:
        out["class_label"] = swap_labels(df["class_label"].to_numpy()).astype(df["class_label"].dtype)
    if "class_name" in df.columns:
        out["class_name"] = df["class_name"].map(dict(zip(CLASS_NAMES, (CLASS_NAMES[k] for k in SWAP_AB))))
    return out
