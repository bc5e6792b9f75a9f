"""The blend (lmsys.evaluate.blend): simplex weights, temperature, a validated submission from model directories."""

import json
import os

import numpy as np
import pandas as pd
import pytest

from lmsys.evaluate.blend import apply_temperature, blend, blend_params_path, common_rows, fit_blend, fit_weights, fit_temperature
from lmsys.config import Config
from lmsys.data import LABEL_COLUMNS
from lmsys.gbm.model import train_features_model
from lmsys.evaluate.metrics import log_loss
from lmsys.evaluate.submission import validate_file
from conftest import REAL_TEST_PATH, REAL_TRAIN_PATH

TRAIN = REAL_TRAIN_PATH
TEST = REAL_TEST_PATH
FAST = {"n_splits": 3, "max_rounds": 60, "early_stopping_rounds": 10, "learning_rate": 0.1, "inner_fold": 4}


def synthetic(n=600, seed=0):
    """Labels, an informative model (softmax of a noisy score) and an uninformative one."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    logits = rng.normal(size=(n, 3))
    logits[np.arange(n), y] += 1.0
    good = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    noise = rng.dirichlet(np.ones(3) * 5, n)
    return y, good, noise


def write_val(model_dir, ids, probs, y):
    os.makedirs(model_dir, exist_ok=True)
    frame = pd.DataFrame(probs, columns=list(LABEL_COLUMNS))
    frame.insert(0, "id", ids)
    frame["class_label"] = y
    frame.to_csv(os.path.join(model_dir, "val_predictions.csv"), index=False)
    return str(model_dir)


def test_weights_lie_on_the_simplex_and_favour_the_informative_model():
    y, good, noise = synthetic()
    w = fit_weights([noise, good], y)
    assert (w >= 0).all() and w.sum() == pytest.approx(1.0)
    assert w[1] > 0.8
    assert log_loss(y, w[0] * noise + w[1] * good) <= min(log_loss(y, good), log_loss(y, noise)) + 1e-9


def test_temperature_softens_overconfident_predictions():
    y, good, _ = synthetic()
    sharp = apply_temperature(good, 0.4)  # made overconfident
    t = fit_temperature(sharp, y)
    assert t > 1.5
    assert log_loss(y, apply_temperature(sharp, t)) < log_loss(y, sharp)
    np.testing.assert_allclose(apply_temperature(good, 1.0), good, atol=1e-12)


def test_weights_are_fitted_on_the_ids_all_models_share(tmp_path):
    y, good, noise = synthetic(300)
    ids = np.arange(1000, 1300)
    a = write_val(tmp_path / "a", ids, good, y)
    b = write_val(tmp_path / "b", ids[100:][::-1], noise[100:][::-1], y[100:][::-1])  # fewer rows, other order
    shared, labels, probs = common_rows([a, b])
    assert shared.tolist() == ids[100:].tolist()
    np.testing.assert_allclose(probs[1], noise[100:])
    assert (labels == y[100:]).all()
    assert fit_blend([a, b])["n_rows"] == 200


def test_disagreeing_labels_name_the_row(tmp_path):
    y, good, noise = synthetic(50)
    a = write_val(tmp_path / "a", np.arange(50), good, y)
    y2 = y.copy()
    y2[7] = (y2[7] + 1) % 3
    b = write_val(tmp_path / "b", np.arange(50), noise, y2)
    with pytest.raises(ValueError, match="row id 7"):
        fit_blend([a, b])


def test_no_common_ids_is_an_error(tmp_path):
    y, good, noise = synthetic(20)
    a = write_val(tmp_path / "a", np.arange(20), good, y)
    b = write_val(tmp_path / "b", np.arange(100, 120), noise, y)
    with pytest.raises(ValueError, match="share no id"):
        fit_blend([a, b])


def test_missing_or_broken_val_predictions_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="val_predictions.csv"):
        fit_blend([str(tmp_path)])
    y, good, _ = synthetic(20)
    bad = good.copy()
    bad[3, 0] = np.nan
    d = write_val(tmp_path / "nan", np.arange(20), bad, y)
    with pytest.raises(ValueError, match="row id 3"):
        fit_blend([d])


@pytest.fixture(scope="module")
def two_feature_dirs(real_data, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("blend")
    raw = pd.read_csv(TRAIN, dtype=str, keep_default_na=False)
    csv = tmp / "train.csv"
    raw.head(240).to_csv(csv, index=False)
    dirs = []
    for seed, leaves in ((1, 7), (2, 15)):
        out = str(tmp / f"f{seed}")
        train_features_model(Config(model_type="features", seed=seed, extra={**FAST, "num_leaves": leaves}),
                             str(csv), out)
        dirs.append(out)
    return dirs


def test_blend_writes_a_valid_submission_and_its_parameters(real_data, two_feature_dirs, tmp_path):
    out = tmp_path / "sub" / "submission.csv"
    params = blend(two_feature_dirs, TEST, str(out))  # predicts through lmsys.predict.predict_proba
    sub = validate_file(str(out), TEST)
    assert len(sub) == 3
    with open(blend_params_path(out)) as fh:
        saved = json.load(fh)
    assert saved["weights"] == params["weights"] and sum(saved["weights"]) == pytest.approx(1.0)
    assert saved["n_rows"] == 240 and saved["model_dirs"] == two_feature_dirs
    assert saved["blend_log_loss"] <= min(saved["model_log_loss"]) + 1e-9
    assert os.path.basename(blend_params_path(out)) == "submission.blend.json"


def test_blend_output_is_the_weighted_mean_of_the_models_predictions(real_data, two_feature_dirs, tmp_path):
    calls = []

    def fake_predict(model_dir, df):
        calls.append(model_dir)
        p = np.tile([0.6, 0.3, 0.1] if model_dir == two_feature_dirs[0] else [0.2, 0.5, 0.3], (len(df), 1))
        return p

    out = tmp_path / "s.csv"
    params = blend(two_feature_dirs, TEST, str(out), temperature=False, predict_fn=fake_predict)
    w = params["weights"]
    expected = w[0] * np.array([0.6, 0.3, 0.1]) + w[1] * np.array([0.2, 0.5, 0.3])
    sub = pd.read_csv(out)
    np.testing.assert_allclose(sub[list(LABEL_COLUMNS)].to_numpy(), np.tile(expected, (3, 1)), atol=1e-8)
    assert params["temperature"] == 1.0
    assert set(calls) <= set(two_feature_dirs)


def test_a_model_predicting_the_wrong_shape_is_named_and_nothing_is_written(real_data, two_feature_dirs, tmp_path):
    out = tmp_path / "s.csv"
    with pytest.raises(ValueError, match="predicted shape"):
        blend(two_feature_dirs, TEST, str(out), predict_fn=lambda d, df: np.ones((len(df) + 1, 3)) / 3)
    assert not out.exists()
