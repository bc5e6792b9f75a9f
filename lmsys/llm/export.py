"""`invoke export`: an LLM model directory with LoRA merged into its base, optionally quantized, as a
standalone model directory that `invoke predict` reads like any other.

LoRA is merged by keras-hub's save_to_preset (EinsumDense saves kernel + A @ B * alpha / rank), in
float32 so the merge itself adds no rounding. int8 / int4 go through Keras `quantize()` on the base
only: the head is a separate float32 Dense. A quantized base is reloaded by building the float
backbone from its config, quantizing it the same way, then loading the saved weights (keras-hub 0.32's
from_preset drops the quantization map).

Keras refuses int8 with float16 compute. A T4 or P100 has no bfloat16, so there an int8 model runs
with float32 compute (slower, same memory for weights); int4 accepts float16.
"""

from __future__ import annotations

import os
import shutil

QUANTIZE_MODES = ("none", "int8", "int4")


def quantized_policy(mode: str, policy: str) -> str:
    """The compute policy a quantized base can run with on this device."""
    if mode == "int8" and policy == "mixed_float16":
        print("int8: Keras refuses int8 with float16 compute, and this device has float16 but no bfloat16 "
              "(a T4 or P100): the int8 model runs with float32 compute. int4 runs with float16 here; on "
              "an Ampere-or-newer GPU or a TPU int8 runs with bfloat16.")
        return "float32"
    return policy


def quantize_quietly(backbone, mode: str) -> None:
    """Keras warns once per layer type without weights to quantize (norms, rotary embedding): not news."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have a `quantize` method")
        backbone.quantize(mode)


def load_quantized_backbone(source: str, mode: str, dtype: str):
    import keras_hub

    from lmsys.llm.backbone import check_decoder

    backbone = keras_hub.models.Backbone.from_preset(source, load_weights=False, dtype=dtype)
    quantize_quietly(backbone, mode)
    sharded = os.path.join(source, "model.weights.json")
    backbone.load_weights(sharded if os.path.exists(sharded) else os.path.join(source, "model.weights.h5"))
    check_decoder(backbone, source)
    return backbone


def export_model(model_dir, out_dir, quantize: str = "none") -> str:
    """Write out_dir: base/ (merged, maybe quantized), the head, config.json (lora_rank 0), and the source's
    val_predictions.csv for blending (they are the LoRA model's; the export agrees to 1e-5 unquantized)."""
    from lmsys.atomic import replace_dir
    from lmsys.config import Config
    from lmsys.llm.backbone import BASE_DIR, save_base
    from lmsys.llm.checkpoint import save_adapter
    from lmsys.run_dir import (METRICS_FILE, VAL_PREDICTIONS_FILE, _read_json, best_generation, save_generation,
                               write_metrics)

    model_dir, out_dir = os.fspath(model_dir), os.fspath(out_dir)
    mode = (quantize or "none").lower()
    if mode not in QUANTIZE_MODES:
        raise ValueError(f"--quantize {quantize!r}: expected one of {', '.join(QUANTIZE_MODES)}")
    config = Config.load(model_dir)
    if config.model_type != "llm":
        raise ValueError(f"--model {model_dir}: holds a {config.model_type!r} model; export merges LLM LoRA models")
    best_generation(model_dir)  # a directory without a finished generation stops here
    if os.path.abspath(out_dir) == os.path.abspath(model_dir):
        raise ValueError(f"--out {out_dir}: must differ from --model")
    if mode != "none":
        from lmsys.devices.precision import resolve_precision

        quantized_policy(mode, resolve_precision(config.precision))  # says what this device allows

    from lmsys.llm.predict import load_classifier

    _, model, tokenizer = load_classifier(model_dir, config, policy="float32")
    tmp = out_dir.rstrip(os.sep) + ".export-tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    base = os.path.join(tmp, BASE_DIR)
    save_base(base, model.backbone, tokenizer)  # LoRA merged into the kernels
    if mode != "none":
        import keras_hub

        merged = keras_hub.models.Backbone.from_preset(base)
        quantize_quietly(merged, mode)
        save_base(base, merged, tokenizer)
    out_config = config.replace(lora_rank=0, lora_targets=[], quantize="" if mode == "none" else mode)
    save_generation(tmp, 0, lambda gen: save_adapter(gen, model, 0, []), {"exported_from": os.path.abspath(model_dir)})
    out_config.save(tmp)
    if os.path.exists(os.path.join(model_dir, VAL_PREDICTIONS_FILE)):
        shutil.copy(os.path.join(model_dir, VAL_PREDICTIONS_FILE), os.path.join(tmp, VAL_PREDICTIONS_FILE))
    source_metrics = _read_json(os.path.join(model_dir, METRICS_FILE)) if os.path.exists(
        os.path.join(model_dir, METRICS_FILE)) else {}
    write_metrics(tmp, {**source_metrics, "exported_from": os.path.abspath(model_dir), "quantize": mode,
                        "note": "validation figures and val_predictions.csv are the source LoRA model's"})
    replace_dir(tmp, out_dir)
    print(f"exported {model_dir} (LoRA merged{'' if mode == 'none' else ', base ' + mode}) to {out_dir}")
    return out_dir
