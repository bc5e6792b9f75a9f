import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from conftest import REAL_TEST_PATH as REAL_TEST, REAL_TRAIN_PATH as REAL_TRAIN

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAST = dict(sequence_length=64, buckets=[32], batch_size=16, precision="float32")


def _env():
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _invoke(cwd, *args):
    """The project's invoke with the checkout's tasks.py, run from `cwd`."""
    return subprocess.run([os.path.join(os.path.dirname(sys.executable), "invoke"), "--search-root", REPO, *args],
                          cwd=cwd, env=_env(), capture_output=True, text=True, timeout=600)


def test_two_training_steps_then_save_and_load_give_identical_predictions(tiny_parts, tiny_texts, tmp_path):
    from lmsys.siamese.backbone import load_backbone
    from lmsys.siamese.batching import pad_pairs
    from lmsys.siamese.model import build_classifier, compile_classifier
    from lmsys.run_dir import best_generation
    from lmsys.siamese.checkpoint import load_classifier, save_best
    from lmsys.siamese.tokens import tokenize_pairs

    config, tokenizer, backbone = tiny_parts
    config = config.replace(learning_rate=1e-3)
    model = build_classifier(config, load_backbone("tiny", config, tokenizer))
    compile_classifier(model, config, total_steps=2)
    df = tiny_texts[0].head(16)
    pairs = tokenize_pairs(df, config, tokenizer, progress=False)
    x = pad_pairs(pairs, np.arange(16), config.sequence_length)
    y = np.eye(3, dtype="float32")[df["class_label"].to_numpy()]
    before = np.asarray(model.predict_on_batch(x))
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    after = np.asarray(model.predict_on_batch(x))
    assert not np.allclose(before, after)  # the two steps changed the weights
    config.save(tmp_path)
    save_best(str(tmp_path), model, tokenizer, epoch=1)
    _, loaded, tok2 = load_classifier(str(tmp_path))
    np.testing.assert_allclose(np.asarray(loaded.predict_on_batch(x)), after, rtol=1e-6, atol=1e-7)
    assert os.path.getsize(os.path.join(best_generation(str(tmp_path)), "head.weights.npz")) < 10_000  # no optimizer state


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    """One tiny model trained on the built-in sample, shared by the tests that read its results."""
    from lmsys.data.sample import write_sample
    from lmsys.siamese.train import default_config, train_model

    root = tmp_path_factory.mktemp("sample_run")
    # the 240 validation rows fall into length buckets whose last batches carry zero-weight filler rows
    train_csv, _ = write_sample(root / "data", n_train=1200, n_test=10)
    config = default_config("tiny", epochs=2, sequence_length=128, buckets=[64], batch_size=16, seed=1,
                            label_smoothing=0.0)
    metrics = train_model(config, train_csv, str(root / "model"), verbose=0)
    return metrics, pd.read_csv(root / "model" / "history.csv"), pd.read_csv(root / "model" / "val_predictions.csv")


@pytest.mark.slow
def test_tiny_model_beats_the_class_prior_on_the_builtin_sample(sample_run):
    metrics, history, _ = sample_run
    assert metrics["val_log_loss"] < metrics["prior_log_loss"] - 0.15, metrics
    assert history["epoch"].tolist() == [1, 2]
    assert {"loss", "log_loss", "accuracy", "val_loss", "val_log_loss", "val_accuracy"} <= set(history.columns)
    # without smoothing the validation loss is close to the log loss: the zero-weight filler rows count for nothing
    # in either, but Keras averages the loss's per-batch means weighted by batch size (filler rows included), while
    # val_log_loss (a weighted metric) is the mean over the real rows
    assert (history["val_loss"] - history["val_log_loss"]).abs().max() < 0.02, history


@pytest.mark.slow
def test_the_best_epochs_validation_score_is_the_final_evaluation_of_the_same_weights(sample_run):
    """Issue 13 item 13: fit's val_log_loss counted the zero-weight filler rows (Keras weights only
    `weighted_metrics`) and had no swap TTA, so the best epoch's score differed from metrics.json's."""
    metrics, history, val = sample_run
    assert metrics["best_epoch_val_tta"] is True
    assert abs(metrics["best_epoch_val_log_loss"] - metrics["val_log_loss"]) < 1e-4, metrics
    assert abs(metrics["val_log_loss_tta"] - metrics["val_log_loss_no_tta"]) > 1e-3  # TTA matters: the match is not luck
    best = history[history["epoch"] == metrics["best_epoch"]].iloc[0]
    # identical options (2% of the sample) get P(A) == P(B) under swap TTA: their argmax is float rounding in
    # either count, so each such near-tie may flip one row; every other row must agree
    probs = np.sort(val[["winner_model_a", "winner_model_b", "winner_tie"]].to_numpy(), axis=1)
    near_ties = int((probs[:, 2] - probs[:, 1] < 1e-5).sum())
    assert abs(best["val_accuracy"] - metrics["val_accuracy"]) <= near_ties / len(val) + 1e-6, (history, metrics)
    assert abs(best["val_log_loss"] - metrics["val_log_loss"]) < 1e-4, (history, metrics)


@pytest.mark.slow
def test_invoke_train_then_predict_on_the_real_rows_writes_a_valid_submission(real_data, tmp_path):
    model = tmp_path / "model"
    out = tmp_path / "sub" / "submission.csv"
    # run from a scratch folder, as a user may: models/LAST and any default output land there, never in the checkout
    train = _invoke(tmp_path, "train", "--data", os.path.abspath(REAL_TRAIN), "--preset", "tiny", "--out", str(model),
                    "--epochs", "1", "--sequence-length", "64", "--batch-size", "16", "--swap-augment", "true")
    assert train.returncode == 0, train.stdout[-3000:] + train.stderr[-3000:]
    files = set(os.listdir(model))
    assert {"config.json", "model.json", "history.csv", "metrics.json", "val_predictions.csv"} <= files
    metrics = json.loads((model / "metrics.json").read_text())
    for key in ("val_log_loss", "val_accuracy", "prior_log_loss", "epochs", "wall_time_s", "rows_per_s"):
        assert metrics[key] is not None
    assert (tmp_path / "models" / "LAST").read_text().strip() == str(model)
    predict = _invoke(tmp_path, "predict", "--data", os.path.abspath(REAL_TEST), "--out", str(out))  # the LAST model
    assert predict.returncode == 0, predict.stdout[-3000:] + predict.stderr[-3000:]
    sub = pd.read_csv(out)
    assert sub["id"].tolist() == [136060, 211333, 1233961]
    np.testing.assert_allclose(sub.iloc[:, 1:].sum(axis=1), 1.0, atol=1e-6)
    check = _invoke(tmp_path, "validate", "--submission", str(out), "--data", os.path.abspath(REAL_TEST))
    assert check.returncode == 0 and "valid" in check.stdout


@pytest.mark.slow
def test_a_killed_run_leaves_a_readable_model_and_resumes_from_its_last_epoch(real_data, tmp_path):
    from lmsys.config import Config

    model, train_csv = tmp_path / "model", str(tmp_path / "train.csv")
    pd.read_csv(REAL_TRAIN).head(300).to_csv(train_csv, index=False)  # short epochs: the run is killed after one
    cfg = {**FAST, "epochs": 4, "learning_rate": 1e-3}
    code = ("import sys; from lmsys.siamese.train import default_config, train_model; "
            f"train_model(default_config('tiny', **{cfg!r}), {train_csv!r}, {str(model)!r}, verbose=0)")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    state = model / "checkpoint" / "state.json"
    deadline = time.time() + 400
    try:
        while time.time() < deadline and proc.poll() is None:
            if state.exists() and json.loads(state.read_text())["epoch"] >= 1:
                break
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # killed mid-run, like a preempted kernel
        proc.wait()
    assert state.exists(), "the run never finished its first epoch"
    done = json.loads(state.read_text())["epoch"]
    assert 1 <= done < 4

    from lmsys.data import load_competition_csv
    from lmsys.models import predict_proba

    probs = predict_proba(str(model), load_competition_csv(REAL_TEST), verbose=0)  # last good checkpoint reads
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)

    from lmsys.siamese.train import train_model

    metrics = train_model(Config.load(model), train_csv, str(model), resume=True, verbose=0)
    history = pd.read_csv(model / "history.csv")
    assert history["epoch"].tolist() == [1, 2, 3, 4]
    assert metrics["epochs"] == 4 and np.isfinite(metrics["val_log_loss"])


def test_a_fresh_run_moves_an_earlier_run_aside_instead_of_mixing_with_it(tmp_path):
    from lmsys.run_dir import set_aside_previous_run

    model = tmp_path / "models" / "siamese-tiny"
    model.mkdir(parents=True)
    (model / "metrics.json").write_text("{}")
    (model / "checkpoint").mkdir()
    aside = set_aside_previous_run(model)
    assert aside == str(tmp_path / "models" / ".previous-siamese-tiny")
    assert not model.exists() and os.path.exists(os.path.join(aside, "metrics.json"))
    empty = tmp_path / "models" / "new"
    empty.mkdir()
    assert set_aside_previous_run(empty) is None and empty.exists()  # nothing to move


def test_resume_refuses_other_data_than_the_run_started_with(real_data, tmp_path):
    from lmsys.config import Config
    from lmsys.siamese.train import default_config, train_model

    model = tmp_path / "model"
    model.mkdir()
    default_config("tiny", data=os.path.abspath(REAL_TRAIN)).save(model)
    (model / "checkpoint").mkdir()
    (model / "checkpoint" / "state.json").write_text(json.dumps({"epoch": 1, "weights": "epoch-1.weights.h5"}))
    with pytest.raises(ValueError, match="was trained on .*train_sample.csv, not .*other.csv"):
        train_model(Config(), str(tmp_path / "other.csv"), str(model), resume=True)


def test_default_model_directory_names_skip_the_kaggle_model_version():
    from lmsys.paths import default_model_dir
    from lmsys.siamese.train import default_config

    kaggle = "/kaggle/input/deberta_v3/keras/deberta_v3_extra_small_en/2"
    assert default_model_dir(default_config(kaggle)) == os.path.join("models", "siamese-deberta_v3_extra_small_en")
    assert default_model_dir(default_config("tiny")) == os.path.join("models", "siamese-tiny")
    from lmsys.models import default_config as family_config

    assert default_model_dir(family_config("features")) == os.path.join("models", "features")

