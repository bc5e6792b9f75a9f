"""The Siamese classifier: one shared keras-hub encoder reads "prompt + response A" and "prompt + response B";
pooled, joined, 3-way softmax. backbone/vocab (presets and `tiny`), tokens/batching (ids and length buckets),
attention (the fast disentangled attention), model, train, checkpoint (the model directory), predict."""

from __future__ import annotations


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
    from lmsys.paths import preset_name

    return f"siamese-{preset_name(config.preset)}"
