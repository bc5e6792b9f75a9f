import numpy as np

from lmsys.evaluate.metrics import gain_interval, log_loss, row_log_loss


def test_row_log_loss_averages_to_the_metric():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet([1, 1, 1], size=50)
    labels = rng.integers(0, 3, size=50)
    assert np.isclose(row_log_loss(labels, probs).mean(), log_loss(labels, probs))


def test_a_model_that_knows_the_labels_beats_the_prior_with_an_interval_above_zero():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, size=200)
    prior = np.full((200, 3), 1 / 3)
    right = rng.uniform(0.3, 0.8, size=200)  # the label's probability, varying by row
    good = np.repeat(((1 - right) / 2)[:, None], 3, axis=1)
    good[np.arange(200), labels] = right
    r = gain_interval(labels, good, prior)
    assert r["low"] > 0 and r["p_not_better"] == 0.0 and r["low"] < r["gain"] < r["high"]
    assert np.isclose(r["gain"], log_loss(labels, prior) - log_loss(labels, good))


def test_noise_around_the_prior_gets_an_interval_that_straddles_zero():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 3, size=200)
    prior = np.full((200, 3), 1 / 3)
    noisy = rng.dirichlet([60, 60, 60], size=200)  # within a few percent of the prior, unrelated to the labels
    r = gain_interval(labels, noisy, prior)
    assert r["low"] < 0 < r["high"] and 0.02 < r["p_not_better"] < 1.0
