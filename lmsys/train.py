"""`invoke train`: resolve the data and the family's default configuration, train into a model directory.

Every input is checked before the output directory is touched (an earlier run there is moved aside only
once the data, the flags and the preset are known to be usable), so a typo never costs a model.
"""

from __future__ import annotations

import os

from lmsys.config import coerce
from lmsys.models import DEFAULT_TYPE, default_config, train_model


def flag_name(key: str) -> str:
    return f"--{key.replace('_', '-')}"


def run_from_cli(data=None, preset="tiny", model_type=DEFAULT_TYPE, out=None, resume=False, overrides=(),
                 **flags) -> dict:
    """`flags` are the typed flags invoke passes as strings (None: not given); `overrides` KEY=VALUE strings."""
    from lmsys.config import check_values, parse_bool, parse_overrides
    from lmsys.paths import default_model_dir, remember_model_dir, resolve_train_csv

    values = {}
    for key, raw in flags.items():
        if raw is None:
            continue
        try:
            values[key] = coerce(key, raw)
        except ValueError as exc:  # "epochs: expected an integer, got 'one'" -> name the flag
            raise ValueError(f"{flag_name(key)}{str(exc)[len(key):]}") from None
    values.update(parse_overrides(overrides))
    try:
        resume = parse_bool(resume)
    except ValueError as exc:
        raise ValueError(f"--resume: {exc}") from None
    config = default_config(model_type or DEFAULT_TYPE, preset or "tiny", **values)
    check_values(config, flags=[k for k, v in flags.items() if v is not None])
    train_csv = resolve_train_csv(data)
    out = out or default_model_dir(config)
    check_inputs(config, train_csv, out)
    try:
        metrics = train_model(config, train_csv, out, resume=resume)
    except Exception as exc:
        from lmsys.cli_errors import disk_full_error, is_disk_full

        if is_disk_full(exc):  # a full disk: one line naming the directory, not a crash deep in a library
            raise disk_full_error(out, exc) from exc
        raise
    remember_model_dir(out)
    return metrics


def check_inputs(config, train_csv, out) -> None:
    """Raise a one-line error for anything that would make the run fail, before `out` is touched:
    the data file (readable, train format, enough rows for the split), the preset (where cheap), the output path."""
    from lmsys.data import DataError, load_competition_csv

    train_csv = os.fspath(train_csv)
    if not os.path.isfile(train_csv):
        raise FileNotFoundError(f"--data {train_csv}: no such file")
    if os.path.exists(out) and not os.path.isdir(out):
        raise FileExistsError(f"--out {out}: exists and is not a directory")
    df = load_competition_csv(train_csv)
    report = df.attrs["report"]
    if report.kind != "train":
        raise DataError(train_csv, "has the test file's columns (no winner_model_a/winner_model_b/winner_tie); "
                        "training needs train.csv")
    check_training_rows(config, df, train_csv)
    _check_preset(config)


MIN_ROWS_PER_CLASS = 2


def check_training_rows(config, df, train_csv) -> None:
    """Enough labelled rows for the family's split: a family may say what it needs
    (`check_training_rows` in its package, e.g. the features model's K folds); else a stratified
    validation split of config.val_fraction."""
    import numpy as np

    from lmsys.data import DataError
    from lmsys.models import family

    if len(df) == 0:
        raise DataError(train_csv, "no data rows (only a header); training needs labelled rows")
    counts = np.bincount(df["class_label"].to_numpy(), minlength=3).tolist()
    own = getattr(family(config.model_type), "check_training_rows", None)
    if own is not None:
        own(config, len(df), counts, train_csv)
        return
    n = len(df)
    n_val = int(np.ceil(n * config.val_fraction))
    if min(counts) < MIN_ROWS_PER_CLASS or n_val < 3 or n - n_val < 3:
        raise DataError(train_csv, f"{n} rows with class counts {counts} (A, B, tie) are too few for a stratified "
                        f"validation split of {config.val_fraction}: each class needs at least {MIN_ROWS_PER_CLASS} "
                        "rows, and both parts at least 3")


def _check_preset(config) -> None:
    """A local preset directory must hold a readable config.json; a name must be one keras-hub knows."""
    from lmsys.models import uses_preset

    preset = config.preset
    if not uses_preset(config) or preset == "tiny":
        return
    looks_local = os.sep in preset or preset.startswith(".") or os.path.exists(preset)
    if looks_local:
        from lmsys.model_files import REDOWNLOAD_PRESET, check_h5, read_preset_config

        read_preset_config(preset)
        weights = os.path.join(preset, "model.weights.h5")
        if os.path.exists(weights):
            check_h5(weights, REDOWNLOAD_PRESET)
    elif "://" not in preset:  # kaggle://, hf://: resolved by keras-hub when downloading
        import keras_hub

        if preset not in keras_hub.models.Backbone.presets:
            raise ValueError(f"--preset {preset!r}: not a keras-hub preset name, a preset directory or 'tiny'")
