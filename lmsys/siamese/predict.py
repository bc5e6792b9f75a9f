"""The Siamese model's prediction: tokenized pairs in, probabilities out, batched by length bucket over every device.

Swap TTA is on by default: each row is also predicted with A and B exchanged, the A/B columns of
that prediction are swapped back, and the two are averaged. This cancels the model's position bias
and makes the output exactly symmetric under swapping the responses. It costs one pass, not two: the
swapped pair has the same two pooled vectors, exchanged, so the model encodes each option once and runs
only its head on [A, B] and on [B, A] (SiameseClassifier inference "both"); the two are combined here in
float64, as the two-pass TTA did.
"""

from __future__ import annotations

import numpy as np

from lmsys.config import Config
from lmsys.data import swap_columns


def predict_pairs(model, pairs, config, multiple: int = 1, verbose=0, report: dict | None = None,
                  float32_model=None) -> np.ndarray:
    """Probabilities for tokenized pairs, batched by length bucket, returned in the rows' own order: (n, 3),
    or (n, 6) for a model whose inference is "both" ([A, B] then [B, A]), each three normalized.

    A batch whose probabilities are not all finite (float16 overflow: a model trained in bfloat16 predicting
    in float16 on a T4) is re-run in float32 by `float32_model()` (a callable, called at most once, building the
    model in float32) and counted in report["nonfinite_reruns"]; still non-finite there, it is an error."""
    from lmsys.siamese.batching import pad_batch, prediction_plan
    from lmsys.devices.distribute import place_batch

    probs = np.zeros((len(pairs), 6 if getattr(model, "inference", "plain") == "both" else 3), dtype=np.float64)
    plan = prediction_plan(pairs, config, multiple)
    if verbose:
        from tqdm.auto import tqdm

        plan_iter = tqdm(plan, desc="predict", unit="batch")
    else:
        plan_iter = plan
    for index, shape, real in plan_iter:
        batch = place_batch(pad_batch(pairs, index, shape))
        out = np.asarray(model.predict_on_batch(batch), dtype=np.float64)
        if not np.isfinite(out[:real]).all():
            out = _rerun_in_float32(model, batch, real, float32_model, report)
        probs[index[:real]] = out[:real]
    probs = probs.reshape(len(pairs), -1, 3)
    return (probs / probs.sum(axis=2, keepdims=True)).reshape(len(pairs), -1)


def _rerun_in_float32(model, batch, real: int, float32_model, report) -> np.ndarray:
    if float32_model is None:
        raise FloatingPointError("a batch gave non-finite probabilities and the model already runs in float32 "
                                 "(or no float32 copy was given); the weights may be broken")
    copy = float32_model()
    copy.set_inference(model.inference)  # the same outputs ("plain" or "both") as the batch being replaced
    out = np.asarray(copy.predict_on_batch(batch), dtype=np.float64)
    if report is not None:
        report["nonfinite_reruns"] = report.get("nonfinite_reruns", 0) + 1
    if not np.isfinite(out[:real]).all():
        raise FloatingPointError("a batch gave non-finite probabilities in float32 too; the weights may be broken")
    return out


def float32_copy(model_dir, config):
    """A callable building (once, when first called) the classifier in float32, for batches that overflow."""
    built = []

    def get():
        if not built:
            import keras

            from lmsys.siamese.checkpoint import load_classifier

            print("non-finite probabilities in a batch: building a float32 copy of the model to re-run it", flush=True)
            previous = keras.config.dtype_policy()
            keras.config.set_dtype_policy("float32")
            try:
                built.append(load_classifier(model_dir, config)[1])
            finally:
                keras.config.set_dtype_policy(previous)
        return built[0]

    return get


def precompile_prediction(model, pairs, config, multiple: int = 1) -> None:
    """Compile the prediction step of every batch shape these pairs need, several at a time
    (swapped pairs for TTA have the same shapes)."""
    from lmsys.siamese.batching import pad_batch, prediction_plan
    from lmsys.devices.precompile import one_per_shape, precompile

    if config.compile_threads != 1:
        plan = one_per_shape(prediction_plan(pairs, config, multiple))
        precompile(model, predict=[pad_batch(pairs, index, shape) for index, shape, _ in plan],
                   workers=config.compile_threads)


def plain_and_tta(both: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(plain, swap-TTA) probabilities from the (n, 6) output of inference "both"."""
    plain, swapped = both[:, :3], both[:, 3:]
    return plain, 0.5 * (plain + swap_columns(swapped))


def predict_pairs_with_tta(model, pairs, config, tta: bool = True, multiple: int = 1, verbose=0,
                           report: dict | None = None, float32_model=None) -> np.ndarray:
    """Swap TTA (or not) in one pass over the backbone (see the module docstring)."""
    model.set_inference("both" if tta else "plain")
    probs = predict_pairs(model, pairs, config, multiple, verbose, report, float32_model)
    if report is not None:
        report["rows_with_tta"] = report.get("rows_with_tta", 0) + (len(pairs) if tta else 0)
    return plain_and_tta(probs)[1] if tta else probs


def predict_proba(model_dir, df, tta: bool | None = None, verbose=1, report: dict | None = None,
                  budget=None) -> np.ndarray:
    """(n, 3) probabilities for parsed rows, whatever kind of model the directory holds. `report` gets
    rows_with_tta, nonfinite_reruns and token_budget (the sequence length). With a `budget`
    (lmsys.evaluate.time_budget.TimeBudget) the rows run shortest first and the budget may drop TTA on the
    longest rows, or skip rows (given the uniform fallback), to finish before its deadline."""
    config = Config.load(model_dir)
    import keras

    from lmsys.devices.distribute import setup_data_parallel
    from lmsys.siamese.checkpoint import load_classifier
    from lmsys.devices.precision import resolve_precision
    from lmsys.siamese.tokens import tokenize_pairs

    policy = resolve_precision(config.precision)
    keras.config.set_dtype_policy(policy)
    multiple = setup_data_parallel()  # before the model is built: variables are placed when created
    config, model, tokenizer = load_classifier(model_dir, config)
    pairs = tokenize_pairs(df, config, tokenizer, progress=bool(verbose))
    tta = config.tta if tta is None else tta
    model.set_inference("both" if tta else "plain")  # before precompiling: the mode is part of the program
    precompile_prediction(model, pairs, config, multiple)
    if report is not None:
        report.setdefault("nonfinite_reruns", 0)
        report["token_budget"] = config.sequence_length
    if budget is not None:
        from lmsys.siamese.budgeted import predict_pairs_within_budget

        probs, used = predict_pairs_within_budget(model, pairs, config, budget, tta=tta, multiple=multiple)
        if report is not None:
            report["rows_with_tta"] = used["rows_with_tta"]
        return probs
    return predict_pairs_with_tta(model, pairs, config, tta=tta, multiple=multiple, verbose=verbose, report=report,
                                  float32_model=None if policy == "float32" else float32_copy(model_dir, config))
