"""Prediction for an LLM model directory: base (+ LoRA) + head, judge sequences at the prediction
token budget, swap TTA (a second sequence per row, in the same batch) unless turned off."""

from __future__ import annotations

import os

import numpy as np


def load_classifier(model_dir, config=None, policy: str | None = None):
    """(config, model, tokenizer) rebuilt from a model directory: the base it names, LoRA of the saved
    rank and targets (checked), the head; a quantized export is quantized the same way before loading."""
    from lmsys.config import Config
    from lmsys.devices.precision import resolve_precision
    from lmsys.llm.backbone import base_source, load_backbone, load_tokenizer
    from lmsys.llm.checkpoint import load_adapter
    from lmsys.llm.model import build_classifier
    from lmsys.llm.train import backbone_dtype
    from lmsys.run_dir import best_generation

    config = config or Config.load(model_dir)
    gen_dir = best_generation(model_dir)
    policy = policy or resolve_precision(config.precision)
    source = base_source(model_dir, config)
    if config.quantize:
        from lmsys.llm.export import load_quantized_backbone, quantized_policy

        policy = quantized_policy(config.quantize, policy)
        backbone = load_quantized_backbone(source, config.quantize, backbone_dtype(policy))
    else:
        backbone = load_backbone(source, config, dtype=backbone_dtype(policy))
    tokenizer = load_tokenizer(source)
    model, _ = build_classifier(backbone, config.lora_rank, config.lora_targets)
    load_adapter(gen_dir, model, config.lora_rank, config.lora_targets)
    return config, model, tokenizer


def predict_loaded(model, tokenizer, config, df, tta: bool, verbose=0) -> np.ndarray:
    from lmsys.llm.batches import predict_sequences, tta_average
    from lmsys.llm.template import build_sequences, row_and_swap_sequences, template_for

    template = template_for(tokenizer)
    length = config.predict_sequence_length
    if tta:
        seqs, swapped = row_and_swap_sequences(template, df, length, config.prompt_tokens, progress=bool(verbose))
    else:
        seqs, swapped = build_sequences(template, df, length, config.prompt_tokens, progress=bool(verbose)), None
    probs, probs_swapped = predict_sequences(model, seqs, swapped, buckets=config.buckets, max_length=length,
                                             rows=config.batch_size, verbose=verbose)
    if tta:
        return tta_average(probs, probs_swapped)  # both raw: the average is then exactly symmetric
    return probs / probs.sum(axis=1, keepdims=True)


def predict_proba(model_dir, df, tta: bool | None = None, verbose=1, report: dict | None = None) -> np.ndarray:
    """(n, 3) probabilities for parsed rows, in df's order; rows sum to 1. `report` gets rows_with_tta and
    token_budget (lmsys.evaluate.inference_report); non-finite probabilities are an error naming the row."""
    if not os.path.isdir(os.fspath(model_dir)):
        raise FileNotFoundError(f"--model {model_dir}: no such model directory")
    config, model, tokenizer = load_classifier(model_dir)
    tta = config.tta if tta is None else bool(tta)
    probs = predict_loaded(model, tokenizer, config, df, tta, verbose)
    bad = ~np.isfinite(probs).all(axis=1)
    if bad.any():
        raise FloatingPointError(f"{model_dir}: non-finite probabilities for {int(bad.sum())} row(s), first id "
                                 f"{df['id'].iat[int(np.flatnonzero(bad)[0])]}; try --set precision=float32")
    if report is not None:
        report["rows_with_tta"] = report.get("rows_with_tta", 0) + (len(df) if tta else 0)
        report.setdefault("nonfinite_reruns", 0)
        report["token_budget"] = config.predict_sequence_length
    return probs
