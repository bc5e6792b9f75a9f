"""The submission check: nothing reaches submission.csv (or Kaggle) unless it passes.

A broken submission costs a day's submission slot and ~hours of kernel time, so the same
checks run before every write and on demand (`invoke validate`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmsys.atomic import atomic_path
from lmsys.data import LABEL_COLUMNS, SUBMISSION_COLUMNS

SUM_TOLERANCE = 1e-6


class SubmissionError(ValueError):
    """A submission failed a check; the message names the row and the reason."""


def make_submission(ids, probs) -> pd.DataFrame:
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != 3:
        raise SubmissionError(f"predictions have shape {probs.shape}, expected (n_rows, 3)")
    frame = pd.DataFrame(probs, columns=list(LABEL_COLUMNS))
    frame.insert(0, "id", np.asarray(ids))
    return frame


def validate_submission(sub: pd.DataFrame, test_ids) -> None:
    """Raise SubmissionError unless `sub` is exactly what the competition accepts for these test ids."""
    if list(sub.columns) != list(SUBMISSION_COLUMNS):
        raise SubmissionError(f"columns are {list(sub.columns)}, expected exactly {list(SUBMISSION_COLUMNS)}")
    test_ids = np.asarray(test_ids)
    if len(sub) != len(test_ids):
        raise SubmissionError(f"{len(sub)} rows, but the test file has {len(test_ids)}")
    ids = sub["id"].to_numpy()
    try:  # exact comparison: an id of 10.7 is not 10, and 2**63 - 1 is not 2**63 - 2 (float64 would say so)
        if ids.dtype.kind in "iu" and test_ids.dtype.kind in "iu":
            same = ids == test_ids
        else:
            same = ids.astype(np.float64) == test_ids.astype(np.float64)
    except (TypeError, ValueError):
        same = ids.astype(str) == test_ids.astype(str)
    if not same.all():
        i = int(np.flatnonzero(~same)[0])
        raise SubmissionError(f"row {i}: id {ids[i]} but the test file has {test_ids[i]} there "
                              "(ids and their order must be those of the test file)")
    values = sub[list(LABEL_COLUMNS)]
    numeric = values.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(numeric)
    if bad.any():
        i, j = map(int, np.argwhere(bad)[0])
        raise SubmissionError(f"row {i} (id {ids[i]}): {LABEL_COLUMNS[j]} is {values.iat[i, j]!r}, not a finite number")
    out = (numeric < 0) | (numeric > 1)
    if out.any():
        i, j = map(int, np.argwhere(out)[0])
        raise SubmissionError(f"row {i} (id {ids[i]}): {LABEL_COLUMNS[j]} = {numeric[i, j]!r} is outside [0, 1]")
    sums = numeric.sum(axis=1)
    off = np.abs(sums - 1.0) > SUM_TOLERANCE
    if off.any():
        i = int(np.flatnonzero(off)[0])
        raise SubmissionError(f"row {i} (id {ids[i]}): probabilities sum to {sums[i]!r}, not 1 within {SUM_TOLERANCE}")


def write_submission(sub: pd.DataFrame, path, test_ids) -> None:
    """Validate, then write atomically; on a failed check no file is written or replaced."""
    validate_submission(sub, test_ids)
    with atomic_path(path, suffix=".csv") as tmp:
        sub.to_csv(tmp, index=False, float_format="%.9g")
        # What was written must read back as valid too, before it replaces anything.
        validate_submission(pd.read_csv(tmp), test_ids)


def validate_file(submission_path, test_csv) -> pd.DataFrame:
    from lmsys.data import load_competition_csv

    test = load_competition_csv(test_csv)
    try:
        sub = pd.read_csv(submission_path)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a failed check
        raise SubmissionError(f"{submission_path}: not a readable CSV: {exc}") from None
    validate_submission(sub, test["id"].to_numpy())
    return sub
