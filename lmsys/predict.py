"""`invoke predict` and the inference kernel: a model directory and a test csv in, a validated submission out,
whatever family the directory holds (lmsys.models)."""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd

from lmsys.config import parse_bool
from lmsys.data import load_competition_csv
from lmsys.evaluate.submission import make_submission, write_submission
from lmsys.models import predict_proba


def file_ids(test_csv) -> list:
    """Every row's id in file order, as read.py numbers them (integers where they parse), malformed rows too."""
    raw = pd.read_csv(test_csv, usecols=["id"], dtype=str, keep_default_na=False, na_filter=False,
                      encoding="utf-8-sig", encoding_errors="replace")["id"].str.strip()
    numeric = pd.to_numeric(raw, errors="coerce")
    return [int(v) if v == v and float(v).is_integer() else raw.iat[i] for i, v in enumerate(numeric)]


def predict_file(model_dir, test_csv, out_csv, tta: bool | None = None, verbose=1, strict: bool = True,
                 report_path: str | None = "auto", extra_report: dict | None = None, budget=None):
    """Predict test_csv and write out_csv after validation; returns the submission frame.

    strict=False (the inference kernel: the hidden test is seen only when scored): malformed rows are skipped
    and given the model's training class prior (lmsys.evaluate.inference_report.class_prior) instead of ending
    the run. inference_report.json goes beside out_csv (report_path "auto"), or to report_path (None: not
    written); `extra_report` fields are added to it. The report is at sub.attrs["report"].
    `budget` (lmsys.evaluate.time_budget.TimeBudget, made as early as possible): a family that takes it
    degrades in its fixed order to finish in time; its estimate and degradations go into the report.
    """
    from lmsys.evaluate.inference_report import MAX_LISTED_SKIPS, REPORT_FILE, class_prior, new_report, write_report

    start = time.monotonic()
    report = {**new_report(), **(extra_report or {})}
    test = load_competition_csv(test_csv, strict=strict)
    skipped = test.attrs["report"].skipped
    probs = predict_proba(model_dir, test, tta=tta, verbose=verbose, report=report, budget=budget) \
        if len(test) else np.zeros((0, 3))
    if budget is not None:
        used = budget.report()
        report.update({k: used[k] for k in ("estimated_seconds_at_start", "degradations", "budget_seconds",
                                            "seconds_per_token")}, budget_skipped_rows=used["skipped_rows"])
    ids = test["id"].to_numpy()
    if skipped:
        ids = np.asarray(file_ids(test_csv), dtype=object)
        prior, source = class_prior(model_dir)
        full = np.tile(prior, (len(ids), 1))
        position = {value: i for i, value in enumerate(ids)}
        full[[position[i] for i in test["id"].tolist()]] = probs
        probs = full
        if all(isinstance(i, (int, np.integer)) for i in ids):
            ids = ids.astype(np.int64)
        report.update(prior=[round(float(p), 6) for p in prior], prior_source=source)
        listed = ", ".join(str(k) for k in list(skipped)[:10])
        print(f"{len(skipped)} malformed test row(s) skipped and given the class prior "
              f"{np.round(prior, 4).tolist()} ({source}): {listed}{' ...' if len(skipped) > 10 else ''}", flush=True)
    report.update(rows=int(len(ids)), skipped_rows=len(skipped),
                  skipped={str(k): v for k, v in list(skipped.items())[:MAX_LISTED_SKIPS]})
    sub = make_submission(ids, probs)
    write_submission(sub, out_csv, ids)
    report["seconds"] = round(time.monotonic() - start, 3)
    if report_path == "auto":
        report_path = os.path.join(os.path.dirname(os.path.abspath(out_csv)), REPORT_FILE)
    if report_path:
        write_report(report_path, report)
    sub.attrs["report"] = report
    return sub


def run_from_cli(model_dir=None, test_csv=None, out="submission/submission.csv", tta=None, time_budget_hours=None):
    from lmsys.paths import resolve_model_dir, resolve_test_csv

    try:
        tta = None if tta is None else parse_bool(tta)
    except ValueError as exc:
        raise ValueError(f"--tta: {exc}") from None
    test_csv = resolve_test_csv(test_csv)
    model_dir = resolve_model_dir(model_dir)
    if not os.path.isdir(model_dir):
        raise FileNotFoundError(f"--model {model_dir}: no such model directory")
    budget = None
    if time_budget_hours is not None:
        from lmsys.evaluate.time_budget import TimeBudget, budget_seconds

        budget = TimeBudget(budget_seconds(time_budget_hours))
    sub = predict_file(model_dir, test_csv, out, tta=tta, budget=budget)
    print(f"wrote {out}: {len(sub)} rows, validated (model {model_dir}, test {test_csv})")
    return sub
