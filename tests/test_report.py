"""`invoke report` (lmsys.evaluate.report): real PNGs of the expected size, and the models table."""

import json
import os

import numpy as np
import pandas as pd
import pytest
from matplotlib import image as mpimg

from lmsys.config import Config
from lmsys.data import LABEL_COLUMNS
from lmsys.evaluate.report import DPI, FIGSIZE, calibration_curve, find_model_dirs, models_table, run_report
from conftest import REAL_TEST_PATH, REAL_TRAIN_PATH

TRAIN = REAL_TRAIN_PATH
SIZE = (int(FIGSIZE[1] * DPI), int(FIGSIZE[0] * DPI))  # (height, width) in pixels


def make_model_dir(path, model_type="siamese", preset="tiny", history=True, seed=0, log_loss=1.05):
    rng = np.random.default_rng(seed)
    os.makedirs(path, exist_ok=True)
    Config(model_type=model_type, preset=preset, data="train|sample.csv", seed=seed).save(path)
    with open(os.path.join(path, "metrics.json"), "w") as fh:
        json.dump({"val_log_loss": log_loss, "val_accuracy": 0.47, "prior_log_loss": 1.0986, "epochs": 3,
                   "wall_time_s": 12.5, "rows_per_s": 80.0}, fh)
    if history:
        pd.DataFrame({"epoch": [1, 2, 3], "loss": [1.1, 1.05, 1.0], "log_loss": [1.1, 1.04, 1.0],
                      "accuracy": [0.4, 0.45, 0.5], "val_loss": [1.09, 1.07, 1.06],
                      "val_log_loss": [1.09, 1.07, 1.06], "val_accuracy": [0.41, 0.43, 0.44]}
                     ).to_csv(os.path.join(path, "history.csv"), index=False)
    n = 200
    probs = rng.dirichlet(np.ones(3) * 2, n)
    frame = pd.DataFrame(probs, columns=list(LABEL_COLUMNS))
    frame.insert(0, "id", np.arange(n))
    frame["class_label"] = rng.integers(0, 3, n)
    frame.to_csv(os.path.join(path, "val_predictions.csv"), index=False)
    return str(path)


def assert_png(path):
    with open(path, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    img = mpimg.imread(path)
    assert img.shape[:2] == SIZE
    assert img.std() > 0.01  # something was drawn, not a blank canvas


@pytest.fixture(scope="module")
def report(real_data, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    root = tmp / "models"
    make_model_dir(root / "siamese-tiny", seed=1, log_loss=1.0512)
    make_model_dir(root / "siamese-small", preset="deberta_v3_small_en", seed=2, log_loss=1.0421)
    make_model_dir(root / "features", model_type="features", history=False, seed=3, log_loss=1.0307)
    written = run_report(train_csv=TRAIN, models_root=str(root), out_dir=str(tmp / "reports"))
    return tmp, written


def test_every_plot_is_a_real_png_of_the_expected_size(real_data, report):
    tmp, written = report
    for name in ("models", "winners", "training_curves", "calibration"):
        assert written[name] == str(tmp / "reports" / f"{name}.png")
        assert_png(written[name])


def test_models_table_has_one_row_per_model_dir_with_its_figures(real_data, report):
    tmp, written = report
    text = open(written["table"], encoding="utf-8").read()
    rows = [line for line in text.splitlines() if line.startswith("| ") and "models" in line]
    assert len(rows) == 3
    assert "1.0512" in text and "1.0421" in text and "1.0307" in text
    assert "deberta_v3_small_en" in text and "1.0986" in text and "12.5" in text
    assert "train\\|sample.csv" in text  # a pipe in a value does not break the table
    assert TRAIN in text


def test_without_histories_or_predictions_only_the_data_plots_and_table_are_written(real_data, tmp_path):
    d = tmp_path / "models" / "bare"
    os.makedirs(d)
    Config(model_type="features").save(d)
    written = run_report(train_csv=TRAIN, models_root=str(tmp_path / "models"), out_dir=str(tmp_path / "r"))
    assert sorted(written) == ["models", "table", "winners"]
    assert sorted(os.listdir(tmp_path / "r")) == ["models.md", "models.png", "winners.png"]
    assert "| - |" in open(written["table"]).read()  # missing metrics show as '-'


def test_find_model_dirs_finds_nested_dirs_with_a_config(tmp_path):
    for sub in ("a", "group/b"):
        (tmp_path / sub).mkdir(parents=True)
        Config().save(tmp_path / sub)
    (tmp_path / "not-a-model").mkdir()
    preset = tmp_path / "a" / "best-e1" / "preset"  # a keras-hub preset inside a model dir is not a model dir
    preset.mkdir(parents=True)
    (preset / "config.json").write_text('{"module": "keras_hub.src.models", "class_name": "DebertaV3Backbone"}')
    (tmp_path / "bare-preset").mkdir()
    (tmp_path / "bare-preset" / "config.json").write_text('{"module": "keras_hub", "config": {}}')
    assert find_model_dirs(tmp_path) == [str(tmp_path / "a"), str(tmp_path / "group" / "b")]
    assert find_model_dirs(tmp_path / "missing") == []


def test_table_of_explicit_dirs_names_missing_config(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        models_table([str(tmp_path)])


def test_calibration_curve_of_perfectly_calibrated_bins():
    probs = np.repeat([0.1, 0.5, 0.9], 100)
    hits = np.concatenate([np.arange(100) < 10, np.arange(100) < 50, np.arange(100) < 90]).astype(float)
    mean_p, freq, count = calibration_curve(probs, hits, bins=10)
    np.testing.assert_allclose(mean_p, [0.1, 0.5, 0.9])
    np.testing.assert_allclose(freq, [0.1, 0.5, 0.9])
    assert count.tolist() == [100, 100, 100]


def test_a_test_csv_is_refused_for_the_data_plots(real_data, tmp_path):
    with pytest.raises(ValueError, match="needs a train csv"):
        run_report(train_csv=REAL_TEST_PATH, model_dirs=[], out_dir=str(tmp_path))
