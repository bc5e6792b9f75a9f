"""The features model: LightGBM on text statistics (features.py), trained and predicted swap-symmetric
(model.py). Fast and strong on small data; needs no accelerator."""

from __future__ import annotations

USES_PRESET = False
NEEDS_ACCELERATOR = False  # LightGBM on text statistics: minutes on CPU


def default_config(preset: str | None = None, **overrides):
    """Parameters live in config.extra (lmsys.gbm.model.DEFAULT_PARAMS); `preset` means nothing here."""
    from lmsys.config import Config

    return Config(model_type="features", **{k: v for k, v in overrides.items() if v is not None})


def check_training_rows(config, n: int, counts: list, train_csv) -> None:
    """Stratified K-fold CV needs 2K rows and K of each class; said before an output directory is touched."""
    from lmsys.data import DataError
    from lmsys.gbm.model import model_params

    k = model_params(config)["n_splits"]
    if n < 2 * k or min(counts) < k:
        raise DataError(train_csv, f"{n} rows with class counts {counts} (A, B, tie) are too few for "
                        f"{k}-fold cross-validation: each class needs at least {k} rows")


def train_model(config, train_csv, out_dir, resume: bool = False, verbose="auto") -> dict:
    from lmsys.gbm.model import train_features_model

    if resume:
        print("--resume: the features model trains in one go; training from scratch")
    return train_features_model(config, train_csv, out_dir)


def predict_proba(model_dir, df, tta=None, verbose=1, report=None):
    from lmsys.gbm.model import predict_proba as predict

    return predict(model_dir, df, tta=tta, report=report)


def model_dir_name(config) -> str:
    return "features"
