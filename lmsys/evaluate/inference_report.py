"""inference_report.json: what one prediction run did, written beside the submission.

The hidden test (~25k rows) is seen only when Kaggle scores the submission, hours into the run, so the run
records what it could not see coming: rows it skipped as malformed (they get the training class prior instead
of ending the run), rows predicted with swap TTA, batches re-run in float32 after non-finite probabilities, the
time taken. Families fill their part through predict_proba(..., report=dict) (lmsys.models).
"""

from __future__ import annotations

import numpy as np

from lmsys.atomic import write_json

REPORT_FILE = "inference_report.json"
MAX_LISTED_SKIPS = 100


def new_report() -> dict:
    return {
        "rows": 0,
        "skipped_rows": 0,
        "skipped": {},  # row id -> reason (the first MAX_LISTED_SKIPS)
        "rows_with_tta": 0,
        "nonfinite_reruns": 0,
        "seconds": None,
        "token_budget": None,  # tokens per option where the family has one (siamese: sequence_length)
        "estimated_seconds_at_start": None,  # a later issue: time-budgeted degradation
        "degradations": [],
        "prior": None,
        "prior_source": None,
    }


def class_prior(model_dir) -> tuple[np.ndarray, str]:
    """The training class prior [A, B, tie] for rows that cannot be predicted: the label frequencies of the
    model's validation rows (val_predictions.csv's class_label, a held-out sample of the training labels),
    add-one smoothed so no class gets zero; uniform when the model directory has no validation predictions."""
    from lmsys.run_dir import VAL_PREDICTIONS_FILE, read_val_predictions

    try:
        frame = read_val_predictions(model_dir, required=False)
    except ValueError as exc:
        return np.full(3, 1 / 3), f"uniform ({exc})"
    if frame is None or not len(frame):
        return np.full(3, 1 / 3), f"uniform (no {VAL_PREDICTIONS_FILE} in the model directory)"
    counts = np.bincount(frame["class_label"].to_numpy(dtype=np.int64), minlength=3).astype(np.float64)
    prior = (counts + 1) / (counts.sum() + 3)
    return prior, f"label frequencies of {len(frame)} validation rows ({VAL_PREDICTIONS_FILE}), add-one smoothed"


def write_report(path, report: dict) -> str:
    write_json(path, report)
    return path
