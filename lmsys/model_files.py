"""Reading a model directory's files with errors that name the file and say what to do.

A file cut short by a full disk, a partial copy or a broken download makes the libraries raise their own
errors (h5py's "truncated file", numpy's BadZipFile, json's "Expecting value") naming no path; every
model file is read through here so the error names it and says how to get a good one back.
"""

from __future__ import annotations

import contextlib
import json
import os
import zipfile

RETRAIN = "retrain the model (`invoke train`), or re-download the model dataset"
REDOWNLOAD_PRESET = "re-download the preset (or re-attach the Kaggle Model), or pass another --preset"

# What reading a damaged file raises: OSError (h5py, truncated reads), ValueError (json, numpy),
# EOFError/BadZipFile (npz), KeyError (an npz or h5 lacking an entry), TypeError/AttributeError (a config of the
# wrong shape given to a constructor).
DAMAGE = (OSError, ValueError, EOFError, KeyError, TypeError, AttributeError, IndexError, zipfile.BadZipFile,
          RecursionError)


class ModelFileError(ValueError):
    """A model file is missing, corrupt or truncated; the message names it and says what to do."""


def damaged(path, exc, advice=RETRAIN) -> ModelFileError:
    detail = " ".join(str(exc).split())[:200]
    return ModelFileError(f"{path}: unreadable, corrupt or truncated ({type(exc).__name__}: {detail}); {advice}")


@contextlib.contextmanager
def reading(path, advice=RETRAIN, also=()):
    """Any damage-like error (or one of `also`) raised while reading `path` becomes a ModelFileError naming it."""
    try:
        yield
    except ModelFileError:
        raise
    except FileNotFoundError as exc:
        raise ModelFileError(f"{exc.filename or path}: missing; {advice}") from exc
    except (*DAMAGE, *also) as exc:
        raise damaged(path, exc, advice) from exc


def read_json(path, advice=RETRAIN, expect=dict):
    """A JSON file that must hold an `expect` (dict: an object)."""
    with reading(path, advice):
        with open(path, encoding="utf-8") as fh:
            value = json.load(fh)
    if not isinstance(value, expect):
        raise ModelFileError(f"{path}: holds a JSON {type(value).__name__}, expected a JSON "
                             f"{'object' if expect is dict else expect.__name__}; {advice}")
    return value


def read_preset_config(preset_dir, advice=REDOWNLOAD_PRESET) -> dict:
    """A keras-hub preset directory's config.json, checked to be a JSON object naming a class."""
    path = os.path.join(os.fspath(preset_dir), "config.json")
    if not os.path.isfile(path):
        raise ModelFileError(f"preset {os.fspath(preset_dir)!r}: not a keras-hub preset directory (no config.json); "
                             f"{advice}")
    values = read_json(path, advice)
    if "class_name" not in values:
        raise ModelFileError(f"{path}: not a keras-hub preset config (no class_name); {advice}")
    return values


def check_h5(path, advice=RETRAIN) -> None:
    """Open an .h5 weights file (a truncated one fails here, naming it, rather than deep inside keras)."""
    import h5py

    with reading(path, advice):
        with h5py.File(path, "r") as fh:
            fh.visit(lambda name: None)


def check_lightgbm_model(path, advice=RETRAIN) -> None:
    """A LightGBM model.txt whole and consistent: LightGBM aborts the process (no exception) on a damaged one,
    so the trees' byte counts it records are checked against the file first."""
    import re

    with reading(path, advice):
        with open(path, "rb") as fh:
            text = fh.read()
    sizes = re.search(rb"\ntree_sizes=([0-9 ]*)\n", text)
    start, end = text.find(b"\nTree="), text.find(b"\nend of trees")
    if not text.startswith(b"tree\n") or sizes is None or start < 0 or end < 0:
        raise ModelFileError(f"{path}: not a complete LightGBM model (corrupt or truncated); {advice}")
    if sum(int(s) for s in sizes.group(1).split()) != end + 1 - (start + 1):
        raise ModelFileError(f"{path}: its trees do not have the sizes the file records (corrupt); {advice}")
    if b"\nend of parameters" in text[end:] and not text.rstrip().split(b"\n")[-1].startswith(b"pandas_categorical"):
        raise ModelFileError(f"{path}: truncated after its parameters; {advice}")
