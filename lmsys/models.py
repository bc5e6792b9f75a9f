"""The model families. A model type names the package that builds, trains and predicts it; every command
and kernel goes through here, so adding a family is one folder under lmsys/ and one line in FAMILIES.

A family package exposes (importing keras only inside them):
    default_config(preset="tiny", **overrides) -> Config   its defaults, the `tiny` ones included
    train_model(config, train_csv, out_dir, resume=False, verbose="auto") -> dict   the metrics.json it wrote
    predict_proba(model_dir, df, tta=None, verbose=1, report=None, budget=None) -> (n, 3) probabilities in df's row order;
                                     `report` (optional keyword): a dict the family fills with what it did
                                     (rows_with_tta, nonfinite_reruns, token_budget; lmsys.evaluate.inference_report)
    model_dir_name(config) -> str    its default folder name under models/
    USES_PRESET: bool                whether config.preset means anything to it
and may expose check_training_rows(config, n, class_counts, path) when its split needs more than a
stratified validation split (lmsys/train.py checks that before an output directory is touched).
    NEEDS_ACCELERATOR: bool          whether it is impractical on CPU at the competition's size (a Kaggle kernel
                                     stops when JAX sees no GPU/TPU, unless allowed; missing means True)
    with_attached_base(model_dir, input_dir, work_dir), attached_preset(input_dir)   kernels: where its base is
                                     among the attachments (with_attached_base / attached_preset below)
"""

from __future__ import annotations

import importlib
import inspect

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


def _prepare_devices(model_type) -> None:
    """Before a family that uses an accelerator builds anything: TensorFlow gives up the GPUs (lmsys.devices.tf_gpus)."""
    if needs_accelerator(model_type):
        from lmsys.devices.tf_gpus import hide_gpus_from_tensorflow

        hide_gpus_from_tensorflow()


def train_model(config, train_csv, out_dir, resume: bool = False, verbose="auto") -> dict:
    _prepare_devices(config.model_type)
    return family(config.model_type).train_model(config, train_csv, out_dir, resume=resume, verbose=verbose)


def predict_proba(model_dir, df, tta: bool | None = None, verbose=1, report: dict | None = None, budget=None):
    """(n, 3) probabilities for parsed rows, whatever family the directory holds. `report`: a dict the family
    fills in place with its counts; `budget`: a lmsys.evaluate.time_budget.TimeBudget its prediction keeps to.
    Each is passed only to a family whose predict_proba takes that keyword (else left as it is)."""
    from lmsys.config import Config

    config = Config.load(model_dir)
    _prepare_devices(config.model_type)
    predict = family(config.model_type).predict_proba
    accepted = inspect.signature(predict).parameters
    extra = {k: v for k, v in (("report", report), ("budget", budget)) if v is not None and k in accepted}
    return predict(model_dir, df, tta=tta, verbose=verbose, **extra)


def with_attached_base(config, model_dir, input_dir, work_dir) -> str:
    """In a kernel: a model directory whose base loads from what is attached (a family's
    `with_attached_base`, e.g. the LLM's base Kaggle Model mounted at another path), else model_dir."""
    find = getattr(family(config.model_type), "with_attached_base", None)
    return find(model_dir, input_dir, work_dir) if find else model_dir


def attached_preset(model_type, input_dir) -> str | None:
    """In the training kernel without --preset: the family's own choice among the attachments (None: any
    keras-hub preset, lmsys.kaggle.kernel_inputs.find_preset_dir)."""
    find = getattr(family(model_type), "attached_preset", None)
    return find(input_dir) if find else None


def model_dir_name(config) -> str:
    return family(config.model_type).model_dir_name(config)


def uses_preset(config) -> bool:
    return family(config.model_type).USES_PRESET


def needs_accelerator(model_type) -> bool:
    """Whether a model type (or a Config) needs a GPU/TPU to predict the hidden test in time (default True)."""
    model_type = getattr(model_type, "model_type", model_type) or DEFAULT_TYPE
    return bool(getattr(family(model_type), "NEEDS_ACCELERATOR", True))
