"""Time-budgeted inference on a fake clock: a generous budget degrades nothing, tighter ones degrade in the
fixed order (TTA, token budget, skip) and every row still gets a prediction before the deadline."""

import numpy as np
import pandas as pd
import pytest

from lmsys.evaluate.submission import make_submission, write_submission
from lmsys.evaluate.time_budget import (DEFAULT_HOURS, ENV_HOURS, TimeBudget, budget_hours,
                                        predict_within_budget)

SECONDS_PER_TOKEN = 1e-3
BATCH_OVERHEAD = 0.05


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def fake_model(clock, lengths):
    """Advances the fake clock in proportion to the tokens it really runs; probabilities depend on the row."""
    calls = []

    def predict_batch(rows, token_budget, use_tta):
        tokens = (np.minimum(lengths[rows], token_budget) * np.where(use_tta, 2, 1)).sum()
        clock.now += BATCH_OVERHEAD + SECONDS_PER_TOKEN * tokens
        calls.append((rows.copy(), token_budget.copy(), use_tta.copy()))
        logits = np.stack([np.sin(rows), np.cos(rows), np.zeros(len(rows))], axis=1)
        return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)

    return predict_batch, calls


def rows(n=120, seed=0):
    rng = np.random.default_rng(seed)
    return rng.permutation(np.arange(n) * 25 + 40)  # distinct lengths 40 .. ~3000, shuffled


def full_cost(lengths, batch=8, tta=True, cap=2048):
    tokens = np.minimum(lengths, cap).sum() * (2 if tta else 1)
    return SECONDS_PER_TOKEN * tokens + BATCH_OVERHEAD * np.ceil(len(lengths) / batch)


def run(budget_s, lengths, margin_s=10.0, cap=2048):
    clock = FakeClock()
    budget = TimeBudget(budget_s, clock=clock, margin_s=margin_s, floor=256)
    predict_batch, calls = fake_model(clock, lengths)
    probs, report = predict_within_budget(budget, lengths, predict_batch, batch_size=8, tta=True, token_budget=cap,
                                          fallback=[0.35, 0.34, 0.31])
    return budget, probs, report, calls, clock


def whats(report):
    return [d["what"] for d in report["degradations"]]


def test_hours_from_flag_env_or_default():
    assert budget_hours(None, {}) == DEFAULT_HOURS
    assert budget_hours(None, {ENV_HOURS: "2"}) == 2.0
    assert budget_hours("1.5", {ENV_HOURS: "2"}) == 1.5
    with pytest.raises(ValueError, match="--time-budget-hours"):
        budget_hours("soon", {})
    with pytest.raises(ValueError, match=ENV_HOURS):
        budget_hours(None, {ENV_HOURS: "-1"})


def test_generous_budget_degrades_nothing_and_estimates_the_total():
    lengths = rows()
    budget, probs, report, calls, clock = run(full_cost(lengths) * 3, lengths)
    assert report["degradations"] == [] and report["skipped_rows"] == 0
    assert report["rows_with_tta"] == report["rows"] == len(lengths)
    assert all(t.all() for _, _, t in calls)
    actual = report["seconds"]
    assert abs(report["estimated_seconds_at_start"] - actual) / actual < 0.15, (report, actual)
    # shortest rows first
    ran = np.concatenate([r for r, _, _ in calls])
    assert (np.diff(lengths[ran]) >= 0).all()


def test_dropping_tta_on_the_longest_rows_is_enough_when_the_budget_is_a_little_short():
    lengths = rows()
    budget, probs, report, calls, clock = run(full_cost(lengths) * 0.85 + 10, lengths)
    assert whats(report) == ["drop_tta"] and report["skipped_rows"] == 0
    no_tta = np.flatnonzero(~budget.row_plan.use_tta)
    longest = np.argsort(-lengths)[:len(no_tta)]
    assert set(no_tta) == set(longest)  # as few as needed, and only the longest
    assert 0 < report["rows_with_tta"] < len(lengths)
    assert clock.now <= budget.deadline


def test_then_token_budgets_are_halved_down_to_the_floor():
    lengths = rows()
    budget, probs, report, calls, clock = run(full_cost(lengths, tta=False) * 0.8 + 10, lengths)
    assert whats(report)[0] == "drop_tta" and "token_budget" in whats(report) and "skip" not in whats(report)
    caps = [d["to"] for d in report["degradations"] if d["what"] == "token_budget"]
    assert caps == sorted(caps, reverse=True) and all(c >= 256 for c in caps)
    assert report["skipped_rows"] == 0
    # only the rows run while throughput was being measured (the first 2 batches) kept TTA
    measured = np.concatenate([r for r, _, _ in calls[:budget.measure_batches]])
    assert set(np.flatnonzero(budget.row_plan.use_tta)) == set(measured)
    assert clock.now <= budget.deadline


def test_a_tiny_budget_forces_every_step_and_a_valid_submission_still_appears(tmp_path):
    lengths = rows()
    budget, probs, report, calls, clock = run(full_cost(lengths, tta=False, cap=256) * 0.5 + 10, lengths)
    order = whats(report)
    assert order.index("drop_tta") < order.index("token_budget") < order.index("skip"), order
    assert 0 < report["skipped_rows"] < len(lengths)
    skipped = budget.row_plan.skip
    np.testing.assert_allclose(probs[skipped], [[0.35, 0.34, 0.31]] * int(skipped.sum()))
    assert clock.now <= budget.deadline  # the margin is left for writing
    ids = np.arange(len(lengths)) + 10_000
    write_submission(make_submission(ids, probs), tmp_path / "submission.csv", ids)
    sub = pd.read_csv(tmp_path / "submission.csv")
    assert len(sub) == len(lengths) and np.allclose(sub.iloc[:, 1:].sum(axis=1), 1.0)


def test_past_the_deadline_every_remaining_row_is_skipped():
    clock = FakeClock()
    budget = TimeBudget(100.0, clock=clock, margin_s=10.0)
    plan = budget.plan([10, 20, 30], tta=True, token_budget=64)
    clock.now += 95
    plan = budget.replan([1, 2])
    assert plan.skip.tolist() == [False, True, True]
    assert budget.report()["degradations"][-1]["what"] == "skip"


def test_a_prior_rate_degrades_before_the_first_batch():
    clock = FakeClock()
    budget = TimeBudget(100.0, clock=clock, margin_s=0.0)
    plan = budget.plan([1000] * 10, tta=True, token_budget=1000, seconds_per_token=0.01)  # 200 s needed
    assert not plan.use_tta.all() and budget.report()["estimated_seconds_at_start"] == pytest.approx(200.0)
    with pytest.raises(ValueError, match="time-budget-hours"):
        TimeBudget(0.0)


def test_the_family_s_own_batches_run_shortest_first_and_must_cover_every_row():
    lengths = rows(40)
    buckets = [np.flatnonzero(lengths >= 700), np.flatnonzero((lengths >= 300) & (lengths < 700)),
               np.flatnonzero(lengths < 300)]
    clock = FakeClock()
    budget = TimeBudget(full_cost(lengths) * 3, clock=clock, margin_s=10.0)
    predict_batch, calls = fake_model(clock, lengths)
    probs, report = predict_within_budget(budget, lengths, predict_batch, tta=True, token_budget=2048,
                                          batches=buckets)
    assert [set(r) for r, _, _ in calls] == [set(buckets[2]), set(buckets[1]), set(buckets[0])]
    assert report["degradations"] == [] and np.allclose(probs.sum(axis=1), 1.0)
    with pytest.raises(ValueError, match="every row exactly once"):
        predict_within_budget(TimeBudget(10.0, clock=FakeClock()), lengths, predict_batch, batches=buckets[:2])


def test_the_inference_kernel_keeps_to_a_budget_already_spent_and_still_writes_a_valid_submission(tmp_path):
    """A budget gone by the time the model is loaded: past the first measured batch every row is skipped
    (uniform fallback), the degradation is logged in inference_report.json, and the submission is valid and whole."""
    import json
    import os

    from lmsys.data.sample import write_sample
    from lmsys.evaluate.submission import validate_file
    from lmsys.kaggle.kernel_main import main_infer

    model = os.path.join(os.path.dirname(__file__), "fixtures", "pre_registry", "siamese-tiny")
    write_sample(tmp_path / "sample", n_train=50)
    test_csv = tmp_path / "sample" / "test.csv"
    out = tmp_path / "out"
    main_infer(["--input", str(tmp_path), "--output", str(out), "--model", model, "--test", str(test_csv),
                "--time-budget-hours", "0.00001"])
    sub = validate_file(out / "submission.csv", test_csv)
    report = json.loads((out / "inference_report.json").read_text())
    assert report["rows"] == len(sub) > 0
    assert len(sub) / 2 < report["budget_skipped_rows"] < len(sub) and report["degradations"]
    uniform = np.isclose(sub.iloc[:, 1:].to_numpy(), 1 / 3, atol=1e-9).all(axis=1)
    assert uniform.sum() == report["budget_skipped_rows"]


def test_a_bad_time_budget_names_the_flag():
    from lmsys.kaggle.kernel_main import main_infer

    with pytest.raises(SystemExit):
        main_infer(["--time-budget-hours", "soon"])
