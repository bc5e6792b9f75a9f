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
        backbone = load_backbone(source, config, dtype=predict_dtype(policy))
    tokenizer = load_tokenizer(source)
    model, _ = build_classifier(backbone, config.lora_rank, config.lora_targets)
    load_adapter(gen_dir, model, config.lora_rank, config.lora_targets)
    return config, model, tokenizer


def predict_dtype(policy: str) -> str:
    """The frozen base's dtype at prediction: float16 weights (not mixed_float16's float32 copies) on float16
    devices, so Gemma-2-9B fits two T4s; a batch that overflows is re-run in float32 (float32_rerun)."""
    from lmsys.llm.train import backbone_dtype

    return "float16" if policy == "mixed_float16" else backbone_dtype(policy)


def predict_loaded(model, tokenizer, config, df, tta: bool, verbose=0, rows: int | None = None, rerun=None) -> np.ndarray:
    from lmsys.llm.batches import predict_sequences, tta_average
    from lmsys.llm.template import build_sequences, row_and_swap_sequences, template_for

    template = template_for(tokenizer)
    length = config.predict_sequence_length
    if tta:
        seqs, swapped = row_and_swap_sequences(template, df, length, config.prompt_tokens, progress=bool(verbose))
    else:
        seqs, swapped = build_sequences(template, df, length, config.prompt_tokens, progress=bool(verbose)), None
    probs, probs_swapped = predict_sequences(model, seqs, swapped, buckets=config.buckets, max_length=length,
                                             rows=rows or config.batch_size, verbose=verbose, rerun=rerun)
    if tta:
        return tta_average(probs, probs_swapped)  # both raw: the average is then exactly symmetric
    return probs / probs.sum(axis=1, keepdims=True)


def predict_within_budget(model, tokenizer, config, df, budget, tta: bool, rows: int | None = None, rerun=None,
                          fallback=None):
    """(probabilities, budget.report()) under a lmsys.evaluate.time_budget.TimeBudget: rows run shortest
    first (their full judge-sequence length), and each batch is re-cut to the token budget the plan gives
    each row; the swapped pass runs only for rows that keep TTA. Nothing degraded: predict_loaded's result."""
    from lmsys.evaluate.time_budget import predict_within_budget as run_budget
    from lmsys.llm.batches import predict_sequences, tta_average
    from lmsys.llm.template import build_sequence, template_for, tokenize_messages

    template = template_for(tokenizer)
    messages = tokenize_messages(template, df)
    rows = rows or config.batch_size
    full = 1 << 30  # no cut: the length a row would have with no token budget

    def sequence(i, budget_i, swap=False):
        a, b = ("response_b", "response_a") if swap else ("response_a", "response_b")
        return np.asarray(build_sequence(template, messages["prompt"][i], messages[a][i], messages[b][i], int(budget_i),
                                         config.prompt_tokens), dtype=np.int32)

    lengths = np.array([len(sequence(i, full)) for i in range(len(df))], dtype=np.int64)
    budget.floor = max(budget.floor, shortest_budget(template, messages))  # the template cannot be cut below it

    def predict_batch(index, token_budget, use_tta):
        seqs = [sequence(i, t) for i, t in zip(index, token_budget)]
        out = np.zeros((len(index), 3), dtype=np.float64)
        kwargs = dict(buckets=config.buckets, max_length=config.predict_sequence_length, rows=rows, rerun=rerun)
        with_tta = np.flatnonzero(use_tta)
        if len(with_tta):
            swapped = [sequence(index[j], token_budget[j], swap=True) for j in with_tta]
            plain, mirrored = predict_sequences(model, [seqs[j] for j in with_tta], swapped, **kwargs)
            out[with_tta] = tta_average(plain, mirrored)
        without = np.flatnonzero(~use_tta)
        if len(without):
            plain, _ = predict_sequences(model, [seqs[j] for j in without], None, **kwargs)
            out[without] = plain / plain.sum(axis=1, keepdims=True)
        return out

    return run_budget(budget, lengths, predict_batch, rows, tta=tta, token_budget=config.predict_sequence_length,
                      fallback=fallback)


def shortest_budget(template, messages) -> int:
    """The fewest tokens every row's judge sequence can be cut to: the template around its last turn alone
    (older turns are dropped first) with the minimum piece of each message."""
    from lmsys.llm.template import MIN_PIECE

    fixed = len(template.prefix()) + len(template.suffix())
    turns = {max(len(p), len(a), len(b), 1) for p, a, b in
             zip(messages["prompt"], messages["response_a"], messages["response_b"])}
    return max((fixed + sum(map(len, template.turn_labels(k))) + 3 * MIN_PIECE for k in turns), default=1)


def float32_rerun(model_dir, config, report: dict | None):
    """rerun(batch) for predict_sequences: a float32 copy of the classifier, built when first needed (a base
    in float16 can overflow on long rows), predicts the batch; each call is counted in
    report["nonfinite_reruns"], and still non-finite probabilities there are an error."""
    built = []

    def rerun(batch):
        from lmsys.devices.distribute import place_batch

        if not built:
            print("non-finite probabilities in a batch: building a float32 copy of the model to re-run it", flush=True)
            built.append(load_classifier(model_dir, config, policy="float32")[1])
        out = np.asarray(built[0].predict_on_batch(place_batch(batch)), dtype=np.float64)
        if report is not None:
            report["nonfinite_reruns"] = report.get("nonfinite_reruns", 0) + 1
        return out

    return rerun


def no_rerun(batch):
    raise FloatingPointError("a batch gave non-finite probabilities and the model already runs in float32; "
                             "the weights may be broken")


def predict_proba(model_dir, df, tta: bool | None = None, verbose=1, report: dict | None = None,
                  budget=None) -> np.ndarray:
    """(n, 3) probabilities for parsed rows, in df's order; rows sum to 1. `report` gets rows_with_tta,
    nonfinite_reruns and token_budget (lmsys.evaluate.inference_report). A batch with non-finite
    probabilities is re-run by a float32 copy (counted); with a `budget` (TimeBudget) the rows run shortest
    first and the budget may drop TTA, cut token budgets or skip rows (uniform fallback) to finish in time."""
    from lmsys.config import Config
    from lmsys.devices.precision import resolve_precision
    from lmsys.llm.backbone import base_source
    from lmsys.llm.parallel import prepare_devices, round_up

    if not os.path.isdir(os.fspath(model_dir)):
        raise FileNotFoundError(f"--model {model_dir}: no such model directory")
    config = Config.load(model_dir)
    tta = config.tta if tta is None else bool(tta)
    policy = resolve_precision(config.precision)
    setup = prepare_devices(base_source(model_dir, config), config, predict_dtype(policy),
                            batch=config.batch_size * (2 if tta else 1), sequence_length=config.predict_sequence_length)
    rows = round_up(config.batch_size, setup.multiple)
    config, model, tokenizer = load_classifier(model_dir, config, policy)
    checked = report if report is not None else {}
    checked.setdefault("nonfinite_reruns", 0)
    rerun = no_rerun if policy == "float32" else float32_rerun(model_dir, config, checked)
    if budget is not None:
        probs, used = predict_within_budget(model, tokenizer, config, df, budget, tta, rows=rows, rerun=rerun)
        checked["rows_with_tta"] = checked.get("rows_with_tta", 0) + used["rows_with_tta"]
    else:
        probs = predict_loaded(model, tokenizer, config, df, tta, verbose, rows=rows, rerun=rerun)
        checked["rows_with_tta"] = checked.get("rows_with_tta", 0) + (len(df) if tta else 0)
    bad = ~np.isfinite(probs).all(axis=1)
    if bad.any():
        raise FloatingPointError(f"{model_dir}: non-finite probabilities for {int(bad.sum())} row(s), first id "
                                 f"{df['id'].iat[int(np.flatnonzero(bad)[0])]}; try --set precision=float32")
    checked["token_budget"] = config.predict_sequence_length
    return probs
