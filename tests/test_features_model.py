"""The features model (lmsys.gbm.model): model directory, swap symmetry, honest out-of-fold CV."""

import json
import os

import numpy as np
import pandas as pd
import pytest

from lmsys.config import Config
from lmsys.data import LABEL_COLUMNS, load_competition_csv
from lmsys.data import swap_frame
from lmsys.gbm.model import (DEFAULT_PARAMS, cross_validate, load_model, model_params, predict_proba,
                                  train_features_model)
from lmsys.evaluate.metrics import log_loss
from conftest import REAL_TEST_PATH, REAL_TRAIN_PATH

TRAIN = REAL_TRAIN_PATH
TEST = REAL_TEST_PATH
FAST = {"n_splits": 3, "max_rounds": 80, "early_stopping_rounds": 10, "learning_rate": 0.1, "inner_fold": 4}


def write_head(tmp_path, n, name="train.csv"):
    raw = pd.read_csv(TRAIN, dtype=str, keep_default_na=False)
    path = tmp_path / name
    raw.head(n).to_csv(path, index=False)
    return str(path)


@pytest.fixture(scope="module")
def trained(real_data, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("features")
    csv = write_head(tmp, 300)
    out = tmp / "model"
    metrics = train_features_model(Config(model_type="features", data=csv, seed=3, extra=FAST), csv, str(out))
    return str(out), csv, metrics


def test_model_dir_holds_config_metrics_oof_predictions_and_model(real_data, trained):
    out, csv, metrics = trained
    assert sorted(os.listdir(out)) == ["config.json", "metrics.json", "model.txt", "tfidf.json", "val_predictions.csv"]
    config = Config.load(out)
    assert config.model_type == "features" and config.data == csv and config.seed == 3
    assert config.extra == {**DEFAULT_PARAMS, **FAST}
    with open(os.path.join(out, "metrics.json")) as fh:
        saved = json.load(fh)
    for key in ("val_log_loss", "val_accuracy", "prior_log_loss", "epochs", "wall_time_s", "rows_per_s", "oof_log_loss"):
        assert key in saved
    assert saved["oof_log_loss"] == metrics["oof_log_loss"] == metrics["val_log_loss"]
    assert saved["epochs"] is None and len(saved["fold_log_loss"]) == 3


def test_val_predictions_are_the_oof_probabilities_of_every_training_row(real_data, trained):
    out, csv, metrics = trained
    val = pd.read_csv(os.path.join(out, "val_predictions.csv"))
    df = load_competition_csv(csv)
    assert list(val.columns) == ["id", *LABEL_COLUMNS, "class_label"]
    assert val["id"].tolist() == df["id"].tolist()
    assert (val["class_label"] == df["class_label"]).all()
    probs = val[list(LABEL_COLUMNS)].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    assert log_loss(val["class_label"].to_numpy(), probs) == pytest.approx(metrics["val_log_loss"], abs=1e-6)


def test_predicting_swapped_rows_gives_the_swapped_probabilities(real_data, trained):
    out, csv, _ = trained
    df = load_competition_csv(csv).head(60)
    p, ps = predict_proba(out, df), predict_proba(out, swap_frame(df))
    np.testing.assert_allclose(ps, p[:, [1, 0, 2]], rtol=0, atol=1e-12)
    assert np.abs(p[:, 0] - p[:, 1]).max() > 1e-3  # not trivially symmetric by predicting A == B


def test_without_tta_the_swapped_prediction_differs_so_the_tta_test_can_fail(real_data, trained):
    out, csv, _ = trained
    df = load_competition_csv(csv).head(60)
    p, ps = predict_proba(out, df, tta=False), predict_proba(out, swap_frame(df), tta=False)
    assert np.abs(ps - p[:, [1, 0, 2]]).max() > 1e-6


def test_predicts_the_real_test_csv_with_rows_summing_to_one(real_data, trained):
    out, _, _ = trained
    test = load_competition_csv(TEST)
    p = predict_proba(out, test)
    assert p.shape == (len(test), 3)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-9)
    assert ((p > 0) & (p < 1)).all()


def test_scored_fold_never_influences_its_own_predictions(real_data):
    """Relabel every row of fold 0: the out-of-fold predictions of fold 0 must not move."""
    df = load_competition_csv(TRAIN).head(240).reset_index(drop=True)
    params = model_params(Config(model_type="features", extra=FAST))
    first = cross_validate(df, params, seed=5, progress=False)
    changed = df.copy()
    in_fold0 = first["folds"] == 0
    changed.loc[in_fold0, "class_label"] = (changed.loc[in_fold0, "class_label"] + 1) % 3
    second = cross_validate(changed, params, seed=5, progress=False, folds=first["folds"])
    np.testing.assert_array_equal(second["oof"][in_fold0], first["oof"][in_fold0])
    assert not np.array_equal(second["oof"][~in_fold0], first["oof"][~in_fold0])


def test_learns_the_built_in_samples_signal_far_below_the_class_prior(tmp_path):
    from lmsys.data.sample import write_sample

    train_csv, _ = write_sample(tmp_path, n_train=300, n_test=10)
    metrics = train_features_model(Config(model_type="features", seed=0, extra=FAST), train_csv, str(tmp_path / "m"))
    assert metrics["oof_log_loss"] < metrics["prior_log_loss"] - 0.05


def test_unknown_parameter_is_an_error_naming_it():
    with pytest.raises(ValueError, match="num_leafs"):
        model_params(Config(model_type="features", extra={"num_leafs": 3}))


def test_too_few_rows_fails_before_writing_and_keeps_the_old_dir(real_data, tmp_path, trained):
    csv = write_head(tmp_path, 6)
    out = tmp_path / "model"
    out.mkdir()
    (out / "keep.txt").write_text("old")
    with pytest.raises(ValueError, match="too few|class counts"):
        train_features_model(Config(model_type="features", extra=FAST), csv, str(out))
    assert os.listdir(out) == ["keep.txt"]


def test_loading_a_dir_of_another_model_type_says_so(tmp_path):
    Config(model_type="siamese").save(tmp_path)
    with pytest.raises(ValueError, match="not 'features'"):
        load_model(str(tmp_path))


def test_missing_model_file_is_named(tmp_path):
    Config(model_type="features").save(tmp_path)
    with pytest.raises(FileNotFoundError, match="model.txt"):
        load_model(str(tmp_path))
