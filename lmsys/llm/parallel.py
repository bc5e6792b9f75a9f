"""Before the LLM family builds a base (training and prediction): the memory plan, printed as one line and
refusing a plan that cannot fit, then keras' distribution (model parallel from the backbone's layout map,
or data parallel) set, so that variables are placed where the plan says when they are created.

A 9B base that does not fit is otherwise found out minutes into a 9-hour kernel, as an out-of-memory
crash that leaves no submission; the plan needs only the base's config.json.
"""

from __future__ import annotations

import os

# keras policy -> the dtype the plan counts the base's weights in (lmsys.llm.train.backbone_dtype: a
# mixed_float16 base keeps float32 variables, mixed_bfloat16 holds them in bfloat16).
# Prediction passes its base dtype ("float16": lmsys.llm.predict.predict_dtype), which maps to itself.
PLAN_PRECISION = {"float32": "float32", "mixed_float16": "float32", "mixed_bfloat16": "bfloat16",
                  "float16": "float16", "bfloat16": "bfloat16"}


def plan_source(source: str, config):
    """(backbone class, backbone kwargs) the plan reads, without loading weights; None for a keras-hub preset
    name (its config would have to be downloaded)."""
    import keras_hub

    from lmsys.devices.memory_plan import backbone_config_from_dir
    from lmsys.llm.presets import is_tiny

    if is_tiny(source):
        return keras_hub.models.GemmaBackbone, dict(config.tiny_llm)
    if os.path.isfile(os.path.join(os.fspath(source), "config.json")):
        return backbone_config_from_dir(source)
    return None


def prepare_devices(source: str, config, policy: str, batch: int, sequence_length: int):
    """`policy`: the keras policy or base dtype the base is built with. Print the memory plan (`memory plan: ...`), raise its one-line PlanError when nothing asked for fits,
    and set the distribution; returns the lmsys.devices.model_parallel.ParallelSetup (batches must be a
    multiple of its `multiple`)."""
    import keras

    from lmsys.devices.memory_plan import announce_plan
    from lmsys.devices.model_parallel import setup_parallel

    keras.distribution.set_distribution(None)  # a previous run in this process must not decide the layout
    found = plan_source(source, config)
    quantize = config.quantize or None
    if found is None:
        if str(config.model_parallel) not in ("auto", "1", ""):
            raise ValueError(f"model_parallel={config.model_parallel}: --preset {source!r} is a preset name; "
                             "model parallel needs a preset directory (its config.json says the layout)")
        print(f"memory plan: skipped for preset name {source!r} (no local config.json); one copy per device",
              flush=True)
        setup = setup_parallel(keras.Model, 1)
    else:
        backbone_cls, kwargs = found
        plan = announce_plan(kwargs, PLAN_PRECISION.get(policy, "auto"), quantize,
                             model_parallel=config.model_parallel or "auto", batch=max(int(batch), 1),
                             sequence_length=int(sequence_length), lora_rank=max(int(config.lora_rank), 0),
                             lora_targets=list(config.lora_targets) or None, backbone_cls=backbone_cls)
        setup = setup_parallel(backbone_cls, config.model_parallel or "auto", plan)
    print(f"devices: {setup.describe()}", flush=True)
    return setup


def round_up(rows: int, multiple: int) -> int:
    """Rows per batch as a multiple of the data-parallel copies (keras splits each batch evenly)."""
    multiple = max(int(multiple), 1)
    return -(-max(int(rows), 1) // multiple) * multiple
