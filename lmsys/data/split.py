"""Stratified splits: a seeded 80/20 train/validation split and K folds, both keeping class balance."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split


def train_val_split(df, val_fraction: float = 0.2, seed: int = 42, label_column: str = "class_label"):
    """Return (train_df, val_df), stratified on the label, indices reset."""
    idx = np.arange(len(df))
    tr, va = train_test_split(idx, test_size=val_fraction, random_state=seed, stratify=df[label_column].to_numpy())
    return df.iloc[np.sort(tr)].reset_index(drop=True), df.iloc[np.sort(va)].reset_index(drop=True)


def fold_ids(df, n_splits: int = 5, seed: int = 42, label_column: str = "class_label") -> np.ndarray:
    """Fold number (0..n_splits-1) of each row, stratified on the label."""
    folds = np.full(len(df), -1, dtype=np.int64)
    skf = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    for k, (_, va) in enumerate(skf.split(np.zeros(len(df)), df[label_column].to_numpy())):
        folds[va] = k
    return folds
