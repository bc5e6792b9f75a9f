"""The model directory: everything inference needs, written so a kill at any moment leaves it readable.

    config.json            the Config used (rebuilds the same model and options)
    model.json             points at the current best generation (written last, atomically)
    best-eN-<tag>/preset/  backbone + tokenizer as a keras-hub preset (from_preset(dir) loads it)
    best-eN-<tag>/head.weights.npz  the classifier head, no optimizer state
    history.csv, metrics.json, val_predictions.csv
    checkpoint/            resume state: last epoch's full weights with optimizer, and state.json

A new generation is complete on disk before model.json names it; older ones are removed after.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil

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
    """A fresh run into a directory that holds an earlier run moves that run to .previous-<name>
    beside it (replacing an older one there), so nothing of it mixes with the new run or is lost."""
    model_dir = os.path.abspath(os.fspath(model_dir))
    if not os.path.isdir(model_dir) or not any(
            n in RUN_FILES or n.startswith("best-e") for n in os.listdir(model_dir)):
        return None
    aside = os.path.join(os.path.dirname(model_dir), f".previous-{os.path.basename(model_dir)}")
    shutil.rmtree(aside, ignore_errors=True)
    os.replace(model_dir, aside)
    return aside


def save_best(model_dir, model, tokenizer, epoch: int, extra: dict | None = None) -> str:
    from lmsys.backbone import save_preset

    gen = f"best-e{epoch}-{secrets.token_hex(3)}"  # never the name model.json may still point to
    gen_dir = os.path.join(model_dir, gen)
    save_preset(os.path.join(gen_dir, "preset"), model.backbone, tokenizer)
    with atomic_path(os.path.join(gen_dir, "head.weights.npz"), suffix=".npz") as tmp:
        np.savez(tmp, **{f"w{i}": np.asarray(v) for i, v in enumerate(model.head.get_weights())})
    write_json(os.path.join(model_dir, MANIFEST), {"generation": gen, "epoch": epoch, **(extra or {})})
    for name in os.listdir(model_dir):
        if name.startswith("best-e") and name != gen:
            shutil.rmtree(os.path.join(model_dir, name), ignore_errors=True)
    return gen_dir


def best_generation(model_dir) -> str:
    path = os.path.join(model_dir, MANIFEST)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{model_dir}: no {MANIFEST}; training has not saved a best checkpoint yet")
    return os.path.join(model_dir, _read_json(path)["generation"])


def load_head(model, gen_dir) -> None:
    with np.load(os.path.join(gen_dir, "head.weights.npz")) as data:
        model.head.set_weights([data[f"w{i}"] for i in range(len(data.files))])


def load_classifier(model_dir, config=None):
    """Rebuild (config, model, tokenizer) exactly as training saved them."""
    from lmsys.backbone import load_backbone, load_tokenizer
    from lmsys.config import Config
    from lmsys.model import build_classifier

    config = config or Config.load(model_dir)
    preset_dir = os.path.join(best_generation(model_dir), "preset")
    tokenizer = load_tokenizer(preset_dir)
    backbone = load_backbone(preset_dir, config)
    model = build_classifier(config, backbone)
    load_head(model, os.path.dirname(preset_dir))
    return config, model, tokenizer


# --- resume state -------------------------------------------------------------------------------

def save_resume_state(model_dir, model, tokenizer, state: dict) -> None:
    """Full weights with optimizer state for `--resume`; state.json (written last) names the file."""
    ckpt = os.path.join(model_dir, CHECKPOINT_DIR)
    os.makedirs(ckpt, exist_ok=True)
    tok_dir = os.path.join(ckpt, "tokenizer")
    if not os.path.exists(os.path.join(tok_dir, "tokenizer.json")):
        tmp = tok_dir + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tokenizer.save_to_preset(tmp)
        os.replace(tmp, tok_dir)
    name = f"epoch-{state['epoch']}.weights.h5"
    with atomic_path(os.path.join(ckpt, name), suffix=".weights.h5") as tmp:
        model.save_weights(tmp)
    write_json(os.path.join(ckpt, STATE_FILE), {**state, "weights": name})
    for old in os.listdir(ckpt):
        if old.startswith("epoch-") and old != name:
            os.remove(os.path.join(ckpt, old))


def load_resume_state(model_dir) -> dict | None:
    path = os.path.join(model_dir, CHECKPOINT_DIR, STATE_FILE)
    return _read_json(path) if os.path.exists(path) else None


def load_resume_tokenizer(model_dir):
    """The tokenizer the interrupted run used (a `tiny` vocabulary is trained, so it must be this one)."""
    import keras_hub

    vocab = os.path.join(model_dir, CHECKPOINT_DIR, "tokenizer", "assets", "tokenizer", "vocabulary.spm")
    return keras_hub.models.DebertaV3Tokenizer(proto=vocab)


def resume_weights_path(model_dir, state: dict) -> str:
    return os.path.join(model_dir, CHECKPOINT_DIR, state["weights"])
