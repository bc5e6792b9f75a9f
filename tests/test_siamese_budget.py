"""The Siamese model under a time budget: unchanged probabilities when the budget is generous; on a tight (fake)
clock the longest rows lose TTA and get exactly the plain prediction, the rest keep the TTA one."""

import numpy as np
import pytest

from conftest import random_head


@pytest.fixture(scope="module")
def parts(tiny_parts, tiny_texts):
    from lmsys.siamese.model import build_classifier
    from lmsys.siamese.tokens import tokenize_pairs

    config, tokenizer, backbone = tiny_parts
    config = config.replace(batch_size=4)
    return config, random_head(build_classifier(config, backbone)), tokenize_pairs(tiny_texts[0].head(48), config, tokenizer,
                                                                      progress=False)


class ClockedModel:
    """The real model; every batch also advances a fake clock by its padded tokens (1 ms per token)."""

    def __init__(self, model):
        self.model, self.now, self.calls = model, 0.0, 0

    def clock(self):
        return self.now

    def set_inference(self, mode):
        self.model.set_inference(mode)

    def predict_on_batch(self, batch):
        self.calls += 1
        self.now += 1e-3 * sum(v.size for k, v in batch.items() if k.endswith("ids"))
        return self.model.predict_on_batch(batch)


def test_generous_budget_gives_the_usual_tta_probabilities(parts):
    from lmsys.evaluate.time_budget import TimeBudget
    from lmsys.siamese.budgeted import predict_pairs_within_budget
    from lmsys.siamese.predict import predict_pairs_with_tta

    config, model, pairs = parts
    clocked = ClockedModel(model)
    probs, report = predict_pairs_within_budget(clocked, pairs, config, TimeBudget(1e6, clock=clocked.clock))
    np.testing.assert_allclose(probs, predict_pairs_with_tta(model, pairs, config, tta=True), atol=1e-6)
    assert report["degradations"] == [] and report["rows_with_tta"] == len(pairs)


def test_tight_budget_drops_tta_on_the_longest_rows(parts):
    from lmsys.evaluate.time_budget import TimeBudget
    from lmsys.siamese.budgeted import predict_pairs_within_budget, row_tokens
    from lmsys.siamese.predict import predict_pairs_with_tta

    config, model, pairs = parts
    full = ClockedModel(model)
    predict_pairs_within_budget(full, pairs, config, TimeBudget(1e6, clock=full.clock))
    clocked = ClockedModel(model)
    budget = TimeBudget(full.now * 0.8 + 1.0, clock=clocked.clock, margin_s=1.0)
    probs, report = predict_pairs_within_budget(clocked, pairs, config, budget, fallback=[0.4, 0.3, 0.3])
    assert [d["what"] for d in report["degradations"]][0] == "drop_tta"
    assert clocked.calls < full.calls and clocked.now <= budget.deadline
    keep = budget.row_plan.use_tta & ~budget.row_plan.skip
    plain = ~budget.row_plan.use_tta & ~budget.row_plan.skip
    assert keep.any() and plain.any()
    tokens = row_tokens(pairs, config)
    assert tokens[plain].min() >= tokens[keep].max()  # the longest rows lost TTA, the shorter kept it
    np.testing.assert_allclose(probs[keep], predict_pairs_with_tta(model, pairs, config, tta=True)[keep], atol=1e-6)
    np.testing.assert_allclose(probs[plain], predict_pairs_with_tta(model, pairs, config, tta=False)[plain], atol=1e-6)
    assert np.allclose(probs.sum(axis=1), 1.0)
