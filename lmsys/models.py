"""The model families. A model type names the package that builds, trains and predicts it; every command
and kernel goes through here, so adding a family is one folder under lmsys/ and one line in FAMILIES.

A family package exposes (importing keras only inside them):
    default_config(preset="tiny", **overrides) -> Config   its defaults, the `tiny` ones included
    train_model(config, train_csv, out_dir, resume=False, verbose="auto") -> dict   the metrics.json it wrote
    predict_proba(model_dir, df, tta=None, verbose=1) -> (n, 3) probabilities in df's row order
    model_dir_name(config) -> str    its default folder name under models/
    USES_PRESET: bool                whether config.preset means anything to it
"""

from __future__ import annotations

import importlib

FAMILIES = {
    "siamese": "lmsys.siamese",  # one shared encoder (DeBERTa-v3 by default) over both options
    "features": "lmsys.gbm",  # LightGBM on text statistics
    "llm": "lmsys.llm",  # a decoder LLM with LoRA over one judge sequence per row
}
DEFAULT_TYPE = "siamese"


class UnknownModelType(ValueError):
    pass


def family(model_type: str):
    """The family package of a model type; an unknown type names the known ones."""
    try:
        path = FAMILIES[model_type]
    except (KeyError, TypeError):
        raise UnknownModelType(f"unknown model type {model_type!r}; known: {', '.join(FAMILIES)}") from None
    return importlib.import_module(path)


def default_config(model_type: str = DEFAULT_TYPE, preset: str | None = None, **overrides):
    fam = family(model_type or DEFAULT_TYPE)
    return fam.default_config(preset, **overrides) if preset else fam.default_config(**overrides)


def train_model(config, train_csv, out_dir, resume: bool = False, verbose="auto") -> dict:
    return family(config.model_type).train_model(config, train_csv, out_dir, resume=resume, verbose=verbose)


def predict_proba(model_dir, df, tta: bool | None = None, verbose=1):
    """(n, 3) probabilities for parsed rows, whatever family the directory holds."""
    from lmsys.config import Config

    config = Config.load(model_dir)
    return family(config.model_type).predict_proba(model_dir, df, tta=tta, verbose=verbose)


def model_dir_name(config) -> str:
    return family(config.model_type).model_dir_name(config)


def uses_preset(config) -> bool:
    return family(config.model_type).USES_PRESET
