"""The Siamese classifier: one shared keras-hub encoder reads "prompt + response A" and "prompt + response B";
pooled, joined, 3-way softmax. backbone/vocab (presets and `tiny`), tokens/batching (ids and length buckets),
attention (the fast disentangled attention), model, train, checkpoint (the model directory), predict."""

from __future__ import annotations

import os

USES_PRESET = True
NEEDS_ACCELERATOR = True  # a transformer over ~25k hidden rows x 2 options: hours on GPU, far past 9 h on CPU


def default_config(preset: str = "tiny", **overrides):
    from lmsys.siamese.train import default_config as build

    return build(preset, **overrides)


def train_model(config, train_csv, out_dir, resume: bool = False, verbose="auto") -> dict:
    from lmsys.siamese.train import train_model as train

    return train(config, train_csv, out_dir, resume=resume, verbose=verbose)


def predict_proba(model_dir, df, tta=None, verbose=1, report=None, budget=None):
    from lmsys.siamese.predict import predict_proba as predict

    return predict(model_dir, df, tta=tta, verbose=verbose, report=report, budget=budget)


def model_dir_name(config) -> str:
    """siamese-<preset name>; a Kaggle Model directory ends in its version (.../extra_small_en/2), so the
    name is the last part of the path that is not a number."""
    parts = [p for p in os.path.normpath(config.preset).split(os.sep) if p and not p.isdigit()]
    return f"siamese-{parts[-1] if parts else 'preset'}"
