"""`invoke predict` and the inference kernel: a model directory and a test csv in, a validated submission out,
whatever family the directory holds (lmsys.models)."""

from __future__ import annotations

import os

from lmsys.config import parse_bool
from lmsys.data import load_competition_csv
from lmsys.evaluate.submission import make_submission, write_submission
from lmsys.models import predict_proba


def predict_file(model_dir, test_csv, out_csv, tta: bool | None = None, verbose=1):
    """Predict test_csv and write out_csv after validation; returns the submission frame."""
    test = load_competition_csv(test_csv)
    probs = predict_proba(model_dir, test, tta=tta, verbose=verbose)
    sub = make_submission(test["id"].to_numpy(), probs)
    write_submission(sub, out_csv, test["id"].to_numpy())
    return sub


def run_from_cli(model_dir=None, test_csv=None, out="submission/submission.csv", tta=None):
    from lmsys.paths import resolve_model_dir, resolve_test_csv

    try:
        tta = None if tta is None else parse_bool(tta)
    except ValueError as exc:
        raise ValueError(f"--tta: {exc}") from None
    test_csv = resolve_test_csv(test_csv)
    model_dir = resolve_model_dir(model_dir)
    if not os.path.isdir(model_dir):
        raise FileNotFoundError(f"--model {model_dir}: no such model directory")
    sub = predict_file(model_dir, test_csv, out, tta=tta)
    print(f"wrote {out}: {len(sub)} rows, validated (model {model_dir}, test {test_csv})")
    return sub
