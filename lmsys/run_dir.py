"""The files every model directory has, whatever the family, written so a kill at any moment leaves it readable.

    config.json            the Config used (rebuilds the same model and options)
    model.json             points at the current best generation (written last, atomically)
    best-eN-<tag>/         that generation's weights, in the family's own format
    history.csv, metrics.json, val_predictions.csv

A new generation is complete on disk before model.json names it; older ones are removed after.
A family keeps its own resume checkpoint and weight formats beside these (e.g. lmsys/siamese/checkpoint.py).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time

import numpy as np
import pandas as pd

from lmsys.atomic import atomic_path, write_json
from lmsys.data import LABEL_COLUMNS

MANIFEST = "model.json"
CHECKPOINT_DIR = "checkpoint"
STATE_FILE = "state.json"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.csv"
VAL_PREDICTIONS_FILE = "val_predictions.csv"
RUN_FILES = (MANIFEST, CHECKPOINT_DIR, METRICS_FILE, HISTORY_FILE, VAL_PREDICTIONS_FILE)


def find_model_dirs(root) -> list[str]:
    """Model directories under `root` (itself included, two levels down): those whose config.json is
    an lmsys Config. Their insides are not searched (a keras-hub preset has a config.json too)."""
    from lmsys.config import CONFIG_FILE

    root = os.fspath(root)
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        if CONFIG_FILE in filenames and is_lmsys_config(os.path.join(dirpath, CONFIG_FILE)):
            found.append(dirpath)
            dirnames[:] = []
        elif os.path.relpath(dirpath, root).count(os.sep) >= 1:
            dirnames[:] = []
    return sorted(found)


def is_lmsys_config(path) -> bool:
    """A config.json written by lmsys.config.Config (a keras-hub preset's config.json is not one)."""
    try:
        values = _read_json(path)
    except (OSError, ValueError):
        return False
    return isinstance(values, dict) and "model_type" in values


def write_val_predictions(model_dir, ids, probs, labels) -> str:
    """Validation (or out-of-fold) predictions with their labels: what blending and reports read."""
    frame = pd.DataFrame(np.asarray(probs, dtype=np.float64), columns=list(LABEL_COLUMNS))
    frame.insert(0, "id", np.asarray(ids))
    frame["class_label"] = np.asarray(labels)
    path = os.path.join(os.fspath(model_dir), VAL_PREDICTIONS_FILE)
    with atomic_path(path, suffix=".csv") as tmp:
        frame.to_csv(tmp, index=False, float_format="%.9g")
    return path


def read_val_predictions(model_dir, required: bool = True) -> pd.DataFrame | None:
    """A model directory's val_predictions.csv, checked (columns, finite probabilities)."""
    path = os.path.join(os.fspath(model_dir), VAL_PREDICTIONS_FILE)
    if not os.path.exists(path):
        if not required:
            return None
        raise FileNotFoundError(f"{path}: missing; every blended model directory needs its validation predictions")
    frame = pd.read_csv(path)
    needed = ["id", *LABEL_COLUMNS, "class_label"]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; found {list(frame.columns)}")
    probs = frame[list(LABEL_COLUMNS)].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(probs).all(axis=1) | (probs < 0).any(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{path}: row id {frame['id'].iat[i]}: probabilities {probs[i].tolist()} are not valid")
    if not frame["class_label"].isin([0, 1, 2]).all():
        i = int(np.flatnonzero(~frame["class_label"].isin([0, 1, 2]))[0])
        raise ValueError(f"{path}: row id {frame['id'].iat[i]}: class_label {frame['class_label'].iat[i]!r} "
                         "is not 0, 1 or 2")
    if frame["id"].duplicated().any():
        raise ValueError(f"{path}: duplicate id {frame['id'][frame['id'].duplicated()].iat[0]}")
    return frame


def _read_json(path):
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def set_aside_previous_run(model_dir) -> str | None:
    """A fresh run into a directory that holds an earlier run moves that run to .previous-<name> beside it
    (or .previous-<name>-<time> when that name is taken), so nothing of it mixes with the new run, and no
    earlier run, set aside before or not, is ever deleted."""
    model_dir = os.path.abspath(os.fspath(model_dir))
    if not os.path.isdir(model_dir) or not any(
            n in RUN_FILES or n.startswith("best-e") for n in os.listdir(model_dir)):
        return None
    base = os.path.join(os.path.dirname(model_dir), f".previous-{os.path.basename(model_dir)}")
    aside, n = base, 1
    stamp = time.strftime("%Y%m%d-%H%M%S")
    while os.path.lexists(aside):
        aside = f"{base}-{stamp}" + (f"-{n}" if n > 1 else "")
        n += 1
    os.rename(model_dir, aside)  # never replaces: the name is free
    return aside


def save_generation(model_dir, epoch: int, write, extra: dict | None = None) -> str:
    """A new best generation: `write(gen_dir)` fills a fresh folder, then model.json names it, then older
    generations go. The fresh name never equals the one model.json may still point to."""
    gen = f"best-e{epoch}-{secrets.token_hex(3)}"
    gen_dir = os.path.join(model_dir, gen)
    os.makedirs(gen_dir, exist_ok=True)
    write(gen_dir)
    write_json(os.path.join(model_dir, MANIFEST), {"generation": gen, "epoch": epoch, **(extra or {})})
    for name in os.listdir(model_dir):
        if name.startswith("best-e") and name != gen:
            shutil.rmtree(os.path.join(model_dir, name), ignore_errors=True)
    return gen_dir


def write_history(model_dir, rows: list[dict]) -> str:
    path = os.path.join(os.fspath(model_dir), HISTORY_FILE)
    with atomic_path(path, suffix=".csv") as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)
    return path


def write_metrics(model_dir, metrics: dict) -> str:
    path = os.path.join(os.fspath(model_dir), METRICS_FILE)
    write_json(path, metrics)
    return path


def best_generation(model_dir) -> str:
    from lmsys.model_files import ModelFileError, read_json

    path = os.path.join(model_dir, MANIFEST)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{model_dir}: no {MANIFEST}; training has not saved a best checkpoint yet")
    generation = read_json(path).get("generation")
    gen_dir = os.path.join(model_dir, str(generation))
    if not isinstance(generation, str) or not os.path.isdir(gen_dir):
        raise ModelFileError(f"{path}: names generation {generation!r}, which is not in {model_dir}; retrain the "
                             "model (`invoke train`), or re-download the model dataset")
    return gen_dir
