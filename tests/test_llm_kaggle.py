"""The LLM family on Kaggle hardware: prediction under a time budget (rows re-cut to their own token budget,
TTA only where kept), non-finite batches re-run in float32 and counted, the memory plan before the base
loads, model parallel on 2 forced CPU devices."""

import itertools
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.llm_helpers import small_config, small_sample


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny LLM directory (48 rows, 1 epoch) and 20 rows to predict."""
    from lmsys.data import load_competition_csv
    from lmsys.llm import train_model

    root = tmp_path_factory.mktemp("llmk")
    csv = small_sample(root / "data", rows=48)
    train_model(small_config(batch_size=8), csv, root / "model", verbose=0)
    return root / "model", load_competition_csv(csv).iloc[:20].reset_index(drop=True)


@pytest.fixture(scope="module")
def loaded(trained):
    from lmsys.llm.predict import load_classifier

    model_dir, df = trained
    config, model, tokenizer = load_classifier(model_dir)
    return config, model, tokenizer, df


def fake_clock(step):
    ticks = itertools.count()
    return lambda: next(ticks) * step


def test_prediction_prints_the_memory_plan_and_fills_the_report(trained, capsys):
    from lmsys import models

    model_dir, df = trained
    report = {}
    probs = models.predict_proba(model_dir, df, verbose=0, report=report)
    out = capsys.readouterr().out
    assert any(line.startswith("memory plan: gemma") for line in out.splitlines()), out
    assert probs.shape == (len(df), 3) and np.allclose(probs.sum(1), 1)
    assert report == {"nonfinite_reruns": 0, "rows_with_tta": len(df), "token_budget": 128}


def test_an_ample_budget_gives_the_plain_prediction_and_a_tiny_one_degrades_every_step(loaded):
    from lmsys.evaluate.time_budget import TimeBudget
    from lmsys.llm.predict import predict_loaded, predict_within_budget

    config, model, tokenizer, df = loaded
    reference = predict_loaded(model, tokenizer, config, df, tta=True)
    ample = TimeBudget(1e6, clock=fake_clock(1.0), margin_s=0)
    probs, report = predict_within_budget(model, tokenizer, config, df, ample, tta=True, rows=4)
    np.testing.assert_allclose(probs, reference, atol=1e-5)
    assert report["degradations"] == [] and report["rows_with_tta"] == len(df)

    # Each clock read is 1 s, so each batch takes 1 s: the 4 batches left after the first do not fit in 6 s.
    tight = TimeBudget(6, clock=fake_clock(1.0), margin_s=0, floor=64, measure_batches=1)
    probs, report = predict_within_budget(model, tokenizer, config, df, tight, tta=True, rows=4)
    steps = [d["what"] for d in report["degradations"]]
    assert "drop_tta" in steps and "token_budget" in steps, steps
    assert report["rows_with_tta"] < len(df) and report["min_token_budget"] == tight.floor < config.predict_sequence_length
    assert probs.shape == (len(df), 3) and np.isfinite(probs).all() and np.allclose(probs.sum(1), 1)
    assert tight.floor > 64  # raised to the shortest judge sequence the template can build
    plan = tight.row_plan
    kept = ~plan.skip & plan.use_tta & (plan.token_budget == config.predict_sequence_length)
    assert kept.any()
    np.testing.assert_allclose(probs[kept], reference[kept], atol=1e-5)  # undegraded rows: as without a budget
    cut = ~plan.skip & (plan.token_budget < np.minimum(plan.lengths, config.predict_sequence_length))
    assert cut.any() and not np.allclose(probs[cut], reference[cut], atol=1e-6)  # re-cut rows really were re-cut
    np.testing.assert_allclose(probs[plan.skip], 1 / 3)


def test_a_non_finite_batch_is_rerun_in_float32_and_counted(loaded, monkeypatch):
    import lmsys.llm.predict as llm_predict

    config, model, tokenizer, df = loaded
    reference = llm_predict.predict_loaded(model, tokenizer, config, df, tta=True)

    class FirstBatchOverflows:
        calls = 0

        def predict_on_batch(self, batch):
            FirstBatchOverflows.calls += 1
            out = np.asarray(model.predict_on_batch(batch))
            return np.full_like(out, np.nan) if FirstBatchOverflows.calls == 1 else out

    built = []
    monkeypatch.setattr(llm_predict, "load_classifier", lambda *a, **k: built.append(k) or (config, model, tokenizer))
    report = {}
    rerun = llm_predict.float32_rerun("unused", config, report)
    probs = llm_predict.predict_loaded(FirstBatchOverflows(), tokenizer, config, df, tta=True, rerun=rerun)
    np.testing.assert_allclose(probs, reference, atol=1e-6)
    assert report["nonfinite_reruns"] == 1 and built == [{"policy": "float32"}]
    with pytest.raises(FloatingPointError, match="already runs in float32"):
        FirstBatchOverflows.calls = 0
        llm_predict.predict_loaded(FirstBatchOverflows(), tokenizer, config, df, tta=True, rerun=llm_predict.no_rerun)
