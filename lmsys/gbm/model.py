"""The features model: LightGBM on lmsys.gbm.features, K-fold out-of-fold predictions, swap symmetry.

Why these choices:
- Every training row is used twice, as it is and A/B-swapped (labels swapped), and a prediction is
  the mean of the row's and its swap's (columns swapped back). The result is exactly symmetric:
  predicting swapped rows gives the same probabilities with the A and B columns exchanged.
- The number of boosting rounds is chosen inside each training fold (early stopping on an inner
  split of the training rows, then a refit on the whole training fold), so the fold being scored
  never picks anything; the final model is refitted on all rows with the mean of those rounds.
- TF-IDF is fitted on training text only and saved as JSON, so a test row's features do not depend
  on the rows predicted with it.

Model directory (shared with the Siamese model): config.json, metrics.json, val_predictions.csv
(here the out-of-fold prediction of every training row), plus model.txt (LightGBM) and tfidf.json.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time

import lightgbm as lgb
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from lmsys.atomic import output_mode, remove_stale_temporary_dirs, replace_dir, write_json
from lmsys.config import Config
from lmsys.data import load_competition_csv, swap_columns, swap_labels
from lmsys.gbm.features import TfidfState, base_features, build_features, feature_names, swap_features, with_tfidf
from lmsys.evaluate.metrics import class_prior, log_loss
from lmsys.run_dir import METRICS_FILE, set_aside_previous_run, write_val_predictions
from lmsys.data.split import fold_ids

MODEL_FILE = "model.txt"
TFIDF_FILE = "tfidf.json"

DEFAULT_PARAMS = {
    "n_splits": 5,
    "learning_rate": 0.03,
    "num_leaves": 7,
    "min_data_in_leaf": 40,
    "feature_fraction": 0.5,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 5.0,
    "max_rounds": 1000,
    "early_stopping_rounds": 50,
    "inner_fold": 5,  # early stopping on 1/inner_fold of each training fold
    "num_threads": 0,  # 0: every core (LightGBM default); set 1 on a machine shared with other jobs
}


def model_params(config: Config) -> dict:
    """DEFAULT_PARAMS overridden by config.extra; unknown keys are an error (a typo would be silent)."""
    unknown = sorted(set(config.extra) - set(DEFAULT_PARAMS))
    if unknown:
        raise ValueError(f"features model: unknown parameter(s) {unknown} in config.extra; "
                         f"known: {sorted(DEFAULT_PARAMS)}")
    return {**DEFAULT_PARAMS, **config.extra}


def _lgb_params(params: dict, seed: int) -> dict:
    return {
        "objective": "multiclass", "num_class": 3, "metric": "multi_logloss", "verbosity": -1,
        "learning_rate": params["learning_rate"], "num_leaves": params["num_leaves"],
        "min_data_in_leaf": params["min_data_in_leaf"], "feature_fraction": params["feature_fraction"],
        "bagging_fraction": params["bagging_fraction"], "bagging_freq": params["bagging_freq"],
        "lambda_l2": params["lambda_l2"], "num_threads": params["num_threads"], "seed": seed,
        "deterministic": True, "force_row_wise": True,
    }


def _augment(x: np.ndarray, y: np.ndarray):
    return np.concatenate([x, swap_features(x)]), np.concatenate([y, swap_labels(y)])


def _train(x, y, params, seed, rounds, valid=None):
    """Fit on rows and their swaps; with `valid` (x, y), stop early and return (booster, best rounds)."""
    xa, ya = _augment(x, y)
    train_set = lgb.Dataset(xa, ya, feature_name=feature_names(), free_raw_data=True)
    kwargs = {}
    if valid is not None:
        xv, yv = _augment(*valid)
        kwargs = {"valid_sets": [lgb.Dataset(xv, yv, reference=train_set)],
                  "callbacks": [lgb.early_stopping(params["early_stopping_rounds"], verbose=False)]}
    booster = lgb.train(_lgb_params(params, seed), train_set, num_boost_round=rounds, **kwargs)
    best = booster.best_iteration if valid is not None and booster.best_iteration > 0 else rounds
    return booster, int(best)


def predict_features(booster: lgb.Booster, x: np.ndarray, tta: bool = True) -> np.ndarray:
    """Probabilities (n, 3); with tta, the mean of the rows' and their swaps' (columns swapped back)."""
    if len(x) == 0:
        return np.zeros((0, 3))
    p = booster.predict(x)
    if tta:
        p = 0.5 * (p + swap_columns(booster.predict(swap_features(x))))
    return p / p.sum(axis=1, keepdims=True)


def _fit_fold(df_tr, base_tr, y_tr, params, seed):
    """Pick the rounds on an inner split of the training rows, then refit on all of them."""
    tfidf = TfidfState.fit(df_tr)
    x_tr = with_tfidf(base_tr, df_tr, tfidf)
    inner = fold_ids(df_tr, n_splits=params["inner_fold"], seed=seed) if len(df_tr) >= 2 * params["inner_fold"] \
        else np.arange(len(df_tr)) % 2
    fit, stop = inner != 0, inner == 0
    _, rounds = _train(x_tr[fit], y_tr[fit], params, seed, params["max_rounds"], valid=(x_tr[stop], y_tr[stop]))
    booster, _ = _train(x_tr, y_tr, params, seed, rounds)
    return booster, tfidf, rounds


def cross_validate(df: pd.DataFrame, params: dict, seed: int = 42, progress: bool = True, folds=None,
                   base=None) -> dict:
    """Out-of-fold probabilities of every row and what each fold chose (folds: stratified unless given;
    base: base_features(df) when the caller already has it)."""
    y = df["class_label"].to_numpy()
    folds = fold_ids(df, n_splits=params["n_splits"], seed=seed) if folds is None else np.asarray(folds)
    oof = np.zeros((len(df), 3))
    prior = np.zeros((len(df), 3))
    rounds, fold_losses = [], []
    if base is None:
        base = base_features(df)  # fold-independent; only the TF-IDF columns are refitted per fold
    for k in tqdm(range(params["n_splits"]), desc="features CV", disable=not progress):
        tr, va = folds != k, folds == k
        df_tr, df_va = df[tr].reset_index(drop=True), df[va].reset_index(drop=True)
        booster, tfidf, n = _fit_fold(df_tr, base[tr], y[tr], params, seed + k)
        oof[va] = predict_features(booster, with_tfidf(base[va], df_va, tfidf))
        prior[va] = class_prior(y[tr])
        rounds.append(n)
        fold_losses.append(log_loss(y[va], oof[va]))
    return {"oof": oof, "prior": prior, "folds": folds, "rounds": rounds, "fold_log_loss": fold_losses}


def train_features_model(config: Config, train_csv: str, out_dir: str) -> dict:
    """K-fold CV (out-of-fold predictions), then a final model on all rows; returns the metrics.

    The directory appears whole or not at all: it is written beside `out_dir` and moved into place.
    """
    start = time.time()
    params = model_params(config)
    df = load_competition_csv(train_csv)
    if len(df) < 2 * params["n_splits"]:
        raise ValueError(f"{train_csv}: {len(df)} rows, too few for {params['n_splits']}-fold CV")
    counts = np.bincount(df["class_label"].to_numpy(), minlength=3)
    if counts.min() < params["n_splits"]:
        raise ValueError(f"{train_csv}: class counts {counts.tolist()} (A, B, tie); each needs at least "
                         f"{params['n_splits']} rows for {params['n_splits']}-fold CV")
    y = df["class_label"].to_numpy()
    base = base_features(df)
    cv = cross_validate(df, params, seed=config.seed, base=base)
    final_rounds = max(1, int(round(float(np.mean(cv["rounds"])))))
    tfidf = TfidfState.fit(df)
    booster, _ = _train(with_tfidf(base, df, tfidf), y, params, config.seed, final_rounds)
    wall = time.time() - start

    oof_loss = log_loss(y, cv["oof"])
    metrics = {
        "val_log_loss": oof_loss,
        "val_accuracy": float(np.mean(cv["oof"].argmax(axis=1) == y)),
        "prior_log_loss": log_loss(y, cv["prior"]),
        "oof_log_loss": oof_loss,
        "fold_log_loss": cv["fold_log_loss"],
        "fold_rounds": cv["rounds"],
        "final_rounds": final_rounds,
        "n_rows": int(len(df)),
        "n_features": len(feature_names()),
        "epochs": None,
        "wall_time_s": wall,
        "rows_per_s": len(df) / wall if wall > 0 else None,
    }

    out_dir = os.fspath(out_dir)
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    remove_stale_temporary_dirs(parent, f".{os.path.basename(out_dir)}.tmp.")  # a killed run's leftovers
    tmp_dir = tempfile.mkdtemp(prefix=f".{os.path.basename(out_dir)}.tmp.", dir=parent)
    os.chmod(tmp_dir, output_mode(directory=True))  # mkdtemp gives 0700; a model dir gets the umask's mode
    try:
        config.replace(model_type="features", data=config.data or os.fspath(train_csv),
                       extra=params).save(tmp_dir)
        booster.save_model(os.path.join(tmp_dir, MODEL_FILE))
        write_json(os.path.join(tmp_dir, TFIDF_FILE), tfidf.to_dict())
        write_val_predictions(tmp_dir, df["id"], cv["oof"], y)
        write_json(os.path.join(tmp_dir, METRICS_FILE), metrics)
        aside = set_aside_previous_run(out_dir)  # an earlier run is kept beside, never deleted
        if aside:
            print(f"{out_dir} held an earlier run: moved to {aside}")
        replace_dir(tmp_dir, out_dir)
    finally:
        if os.path.exists(tmp_dir):
            shutil.rmtree(tmp_dir, ignore_errors=True)
    print(f"features model: OOF log loss {oof_loss:.4f} (class prior {metrics['prior_log_loss']:.4f}), "
          f"accuracy {metrics['val_accuracy']:.3f}, {final_rounds} rounds, {wall:.1f}s -> {out_dir}")
    return metrics


def load_model(model_dir: str):
    """(config, booster, tfidf) of a features model directory, with errors naming the file."""
    model_dir = os.fspath(model_dir)
    config = Config.load(model_dir)
    if config.model_type != "features":
        raise ValueError(f"{model_dir}: model_type is {config.model_type!r}, not 'features'")
    model_path, tfidf_path = os.path.join(model_dir, MODEL_FILE), os.path.join(model_dir, TFIDF_FILE)
    for path in (model_path, tfidf_path):
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: missing; {model_dir} is not a complete features model directory")
    from lmsys.model_files import check_lightgbm_model, read_json, reading

    check_lightgbm_model(model_path)  # LightGBM aborts the whole process on a damaged file
    with reading(model_path, also=(lgb.basic.LightGBMError,)):
        booster = lgb.Booster(model_file=model_path)
    with reading(tfidf_path):
        tfidf = TfidfState.from_dict(read_json(tfidf_path))
    if booster.num_feature() != len(feature_names()):
        raise ValueError(f"{model_path}: {booster.num_feature()} features, but this code builds "
                         f"{len(feature_names())}; retrain the model")
    return config, booster, tfidf


def predict_proba(model_dir: str, df: pd.DataFrame, tta: bool | None = None, report: dict | None = None) -> np.ndarray:
    """(n, 3) probabilities [A, B, tie] for parsed rows; rows sum to 1; swap TTA unless config.tta is off.
    `report`, when given, gets rows_with_tta."""
    config, booster, tfidf = load_model(model_dir)
    use_tta = config.tta if tta is None else tta
    if report is not None:
        report["rows_with_tta"] = report.get("rows_with_tta", 0) + (len(df) if use_tta else 0)
    return predict_features(booster, build_features(df, tfidf), tta=use_tta)
