"""Blend several model directories into one submission.

Weights: non-negative, summing to 1, fitted to minimise the log loss of the weighted average of the
models' *probabilities* (a linear pool: it never becomes more confident than its most confident
member, which is the safer choice when the weights come from ~1k validation rows). They are fitted
on the ids that every directory's val_predictions.csv holds (out-of-fold rows for the features
model, the validation split for the Siamese model). An optional temperature T (p ** (1/T),
renormalised) is then fitted on the same rows. Weights, temperature and the fit's log losses are
saved as JSON beside the submission.
"""

from __future__ import annotations

import os

import numpy as np
from scipy.optimize import minimize, minimize_scalar

from lmsys.atomic import write_json
from lmsys.config import parse_bool
from lmsys.data import LABEL_COLUMNS, load_competition_csv
from lmsys.evaluate.metrics import EPS, log_loss
from lmsys.run_dir import VAL_PREDICTIONS_FILE, read_val_predictions
from lmsys.models import predict_proba
from lmsys.evaluate.submission import make_submission, write_submission

TEMPERATURE_BOUNDS = (0.25, 4.0)


def common_rows(model_dirs):
    """(ids, labels, [probs per model]) on the ids every directory's validation predictions share."""
    frames = [read_val_predictions(d) for d in model_dirs]
    ids = frames[0]["id"]
    for frame in frames[1:]:
        ids = ids[ids.isin(frame["id"])]
    if len(ids) == 0:
        raise ValueError(f"the validation predictions of {list(map(str, model_dirs))} share no id (were they "
                         "trained on different data?); blend weights need common rows: pass --model only for "
                         "directories trained on the same training csv")
    ids = np.sort(ids.to_numpy())
    probs, labels = [], None
    for d, frame in zip(model_dirs, frames):
        rows = frame.set_index("id").loc[ids]
        p = rows[list(LABEL_COLUMNS)].to_numpy(dtype=np.float64)
        probs.append(p / p.sum(axis=1, keepdims=True))
        lab = rows["class_label"].to_numpy()
        if labels is None:
            labels = lab
        elif (lab != labels).any():
            i = int(np.flatnonzero(lab != labels)[0])
            raise ValueError(f"{d}: row id {ids[i]} has class_label {lab[i]}, but {model_dirs[0]} says {labels[i]}")
    return ids, labels, probs


def mix(probs, weights) -> np.ndarray:
    return np.tensordot(np.asarray(weights, dtype=np.float64), np.stack(probs), axes=1)


def apply_temperature(probs, temperature: float) -> np.ndarray:
    logp = np.log(np.clip(probs, EPS, 1.0)) / temperature
    logp -= logp.max(axis=1, keepdims=True)
    p = np.exp(logp)
    return p / p.sum(axis=1, keepdims=True)


def fit_weights(probs, y) -> np.ndarray:
    """Simplex weights minimising the log loss of the weighted mean of probabilities."""
    k = len(probs)
    if k == 1:
        return np.ones(1)
    result = minimize(lambda w: log_loss(y, mix(probs, w)), np.full(k, 1.0 / k), method="SLSQP",
                      bounds=[(0.0, 1.0)] * k, constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0}])
    w = np.clip(result.x, 0.0, None)
    w[w < 1e-6] = 0.0  # SLSQP leaves ~1e-16 on dropped models; make them exactly unused
    w = w / w.sum()
    # SLSQP can stop early on flat losses; never return something worse than the best single model.
    best_single = min(range(k), key=lambda i: log_loss(y, probs[i]))
    if log_loss(y, mix(probs, w)) > log_loss(y, probs[best_single]):
        w = np.eye(k)[best_single]
    return w


def fit_temperature(probs, y) -> float:
    result = minimize_scalar(lambda t: log_loss(y, apply_temperature(probs, t)), bounds=TEMPERATURE_BOUNDS,
                             method="bounded")
    t = float(result.x)
    return t if log_loss(y, apply_temperature(probs, t)) < log_loss(y, probs) else 1.0


def fit_blend(model_dirs, temperature: bool = True) -> dict:
    """Weights (and temperature) on the common validation rows, with the log losses they give there."""
    model_dirs = [os.fspath(d) for d in model_dirs]
    if not model_dirs:
        raise ValueError("blend needs at least one model directory")
    ids, y, probs = common_rows(model_dirs)
    weights = fit_weights(probs, y)
    blended = mix(probs, weights)
    t = fit_temperature(blended, y) if temperature else 1.0
    return {
        "method": "weighted mean of probabilities (linear pool), then p ** (1/T) renormalised",
        "model_dirs": model_dirs,
        "weights": [float(w) for w in weights],
        "temperature": t,
        "n_rows": int(len(ids)),
        "model_log_loss": [log_loss(y, p) for p in probs],
        "blend_log_loss": log_loss(y, apply_temperature(blended, t)),
        "blend_log_loss_before_temperature": log_loss(y, blended),
    }


def blend_params_path(out_csv) -> str:
    root, _ = os.path.splitext(os.fspath(out_csv))
    return root + ".blend.json"


def blend(model_dirs, test_csv, out_csv, temperature: bool = True, predict_fn=None) -> dict:
    """Fit the blend, predict `test_csv` with every model, write a validated submission and the blend JSON.

    `predict_fn(model_dir, df) -> (n, 3)` defaults to lmsys.predict.predict_proba (any model type).
    """
    params = fit_blend(model_dirs, temperature=temperature)
    predict_fn = predict_fn or predict_proba
    test = load_competition_csv(test_csv)
    parts = []
    for d, w in zip(params["model_dirs"], params["weights"]):
        if w == 0.0:
            parts.append(np.zeros((len(test), 3)))
            continue
        p = np.asarray(predict_fn(d, test), dtype=np.float64)
        if p.shape != (len(test), 3):
            raise ValueError(f"{d}: predicted shape {p.shape} for {len(test)} rows of {test_csv}, expected (n, 3)")
        parts.append(p / p.sum(axis=1, keepdims=True))
    probs = apply_temperature(mix(parts, params["weights"]), params["temperature"])
    write_submission(make_submission(test["id"].to_numpy(), probs), out_csv, test["id"].to_numpy())
    params["test_csv"] = os.fspath(test_csv)
    params["submission"] = os.fspath(out_csv)
    write_json(blend_params_path(out_csv), params)
    print(f"blend of {len(model_dirs)} model(s): weights {[round(w, 3) for w in params['weights']]}, "
          f"T={params['temperature']:.3f}, log loss on {params['n_rows']} common validation rows "
          f"{params['blend_log_loss']:.4f} -> {out_csv}")
    return params


def sharing_group(model_dirs, first=None):
    """(chosen, left_out): the directories whose validation predictions share ids with each other, starting from
    `first` (the last model trained) if it is among them, else the most recently trained one."""
    def mtime(d):
        return os.path.getmtime(os.path.join(d, VAL_PREDICTIONS_FILE))

    first = os.path.abspath(first) if first else None
    order = sorted(model_dirs, key=lambda d: (os.path.abspath(d) != first, -mtime(d)))
    groups = []  # [dirs, ids common to all of them]
    for d in order:
        ids = set(read_val_predictions(d)["id"].tolist())
        for group in groups:
            if group[1] & ids:
                group[0].append(d)
                group[1] &= ids
                break
        else:
            groups.append([[d], ids])
    chosen = groups[0][0]
    return chosen, [d for d in order if d not in chosen]


def run_from_cli(model_dirs=None, test_csv=None, out="submission/blend.csv", temperature=True, models_root=None) -> dict:
    """`invoke blend`: the given model dirs, else those under models/ that have validation predictions and share
    validation rows with the last model trained (directories trained on other data are left out, and named)."""
    from lmsys.paths import LAST_MODEL_FILE, MODELS_DIR, resolve_test_csv
    from lmsys.run_dir import find_model_dirs

    try:
        truthy = parse_bool(temperature)
    except ValueError as exc:
        raise ValueError(f"--temperature: {exc}") from None
    if not model_dirs:
        root = models_root or MODELS_DIR
        model_dirs = [d for d in find_model_dirs(root) if os.path.exists(os.path.join(d, VAL_PREDICTIONS_FILE))]
        if not model_dirs:
            raise FileNotFoundError(f"no model directory with {VAL_PREDICTIONS_FILE} under {root}/; "
                                    "train some first or pass --model DIR")
        last = None
        if os.path.exists(LAST_MODEL_FILE):
            with open(LAST_MODEL_FILE, encoding="utf-8") as fh:
                last = fh.read().strip()
        model_dirs, left_out = sharing_group(model_dirs, last)
        if left_out:
            print(f"blending {', '.join(model_dirs)} (they share validation rows); left out "
                  f"{', '.join(left_out)}: no validation row in common with them (trained on other data). "
                  "Pass --model DIR (repeated) to choose.")
    return blend(model_dirs, resolve_test_csv(test_csv), out, temperature=truthy)
