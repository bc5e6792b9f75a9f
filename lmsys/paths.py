"""Default locations: competition data in data/, else the built-in sample; models under models/."""

from __future__ import annotations

import os

DATA_DIR = "data"
SAMPLE_DIR = os.path.join(DATA_DIR, "sample")
MODELS_DIR = "models"
LAST_MODEL_FILE = os.path.join(MODELS_DIR, "LAST")


def _builtin(name: str) -> str:
    from lmsys.data.sample import SAMPLE_NOTE, write_sample

    print(SAMPLE_NOTE, flush=True)
    path = os.path.join(SAMPLE_DIR, name)
    if not os.path.exists(path):
        write_sample(SAMPLE_DIR)
    return path


def resolve_train_csv(path=None) -> str:
    if path:
        return os.fspath(path)
    real = os.path.join(DATA_DIR, "train.csv")
    return real if os.path.exists(real) else _builtin("train.csv")


def resolve_test_csv(path=None) -> str:
    if path:
        return os.fspath(path)
    real = os.path.join(DATA_DIR, "test.csv")
    return real if os.path.exists(real) else _builtin("test.csv")


def preset_name(preset: str) -> str:
    """A preset's short name for folder names: a Kaggle Model directory ends in its version
    (.../extra_small_en/2), so the name is the last part of the path that is not a number."""
    parts = [p for p in os.path.normpath(preset).split(os.sep) if p and not p.isdigit()]
    return parts[-1] if parts else "preset"


def default_model_dir(config) -> str:
    """models/<the family's name for it>, e.g. models/siamese-tiny or models/features."""
    from lmsys.models import model_dir_name

    return os.path.join(MODELS_DIR, model_dir_name(config))


def remember_model_dir(path) -> None:
    from lmsys.atomic import write_text

    write_text(LAST_MODEL_FILE, os.path.abspath(path) + "\n")


def resolve_model_dir(path=None) -> str:
    if path:
        return os.fspath(path)
    if not os.path.exists(LAST_MODEL_FILE):
        raise FileNotFoundError("no --model given and no model trained yet (run `invoke train` first)")
    with open(LAST_MODEL_FILE, encoding="utf-8") as fh:
        return fh.read().strip()
