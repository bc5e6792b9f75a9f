"""`invoke train`: resolve the data and the family's default configuration, train into a model directory."""

from __future__ import annotations

from lmsys.config import coerce
from lmsys.models import DEFAULT_TYPE, default_config, train_model


def run_from_cli(data=None, preset="tiny", model_type=DEFAULT_TYPE, out=None, resume=False, overrides=(),
                 **flags) -> dict:
    """`flags` are the typed flags invoke passes as strings (None: not given); `overrides` KEY=VALUE strings."""
    from lmsys.config import parse_overrides
    from lmsys.paths import default_model_dir, remember_model_dir, resolve_train_csv

    values = {k: coerce(k, v) for k, v in flags.items() if v is not None}
    values.update(parse_overrides(overrides))
    config = default_config(model_type or DEFAULT_TYPE, preset or "tiny", **values)
    train_csv = resolve_train_csv(data)
    out = out or default_model_dir(config)
    metrics = train_model(config, train_csv, out, resume=resume)
    remember_model_dir(out)
    return metrics
