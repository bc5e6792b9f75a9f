"""Training the LLM family: read -> split -> judge sequences (row + swap) -> LoRA fit -> model directory.

Every epoch the validation log loss (with swap TTA when the configuration has it) decides the best
generation (LoRA + head, written atomically) and a resume checkpoint (LoRA + head + optimizer) is
written, so a killed run loses at most the epoch in flight and `--resume` continues it.
"""

from __future__ import annotations

import os
import time

import numpy as np

from lmsys.config import Config
from lmsys.data import labels_onehot, load_competition_csv
from lmsys.data.split import train_val_split
from lmsys.evaluate.metrics import log_loss, prior_log_loss


def default_config(preset: str = "tiny", **overrides) -> Config:
    from lmsys.llm.presets import PRETRAINED_DEFAULTS, TINY_DEFAULTS, TINY_LLM, is_tiny

    base = Config(preset=preset, model_type="llm", tiny_llm=dict(TINY_LLM))
    base = base.replace(**(TINY_DEFAULTS if is_tiny(preset) else PRETRAINED_DEFAULTS))
    return base.replace(**{k: v for k, v in overrides.items() if v is not None})


def check_config(config: Config) -> None:
    """Settings that cannot train, named before anything is written."""
    from lmsys.llm.backbone import check_preset

    if config.model_type != "llm":
        raise ValueError(f"model_type {config.model_type!r}: the llm family trains model_type 'llm'")
    if config.lora_rank <= 0:
        raise ValueError(f"lora_rank={config.lora_rank}: training needs a positive LoRA rank")
    for key in ("batch_size", "gradient_accumulation", "epochs", "sequence_length", "predict_sequence_length"):
        if int(getattr(config, key)) < 1:
            raise ValueError(f"{key}={getattr(config, key)}: must be at least 1")
    if not 0 <= config.prompt_tokens < config.sequence_length:
        raise ValueError(f"prompt_tokens={config.prompt_tokens}: must be below sequence_length={config.sequence_length}")
    if config.quantize:
        raise ValueError(f"quantize={config.quantize!r}: quantization is for exports (invoke export), not training")
    check_preset(config.preset)


def backbone_dtype(policy: str) -> str:
    """bfloat16 devices hold the base in bfloat16 (half the memory of mixed precision's float32 weights);
    otherwise the policy as is. The head is float32 whatever this says."""
    return "bfloat16" if policy == "mixed_bfloat16" else policy


def _texts(df) -> list[str]:
    return [t for column in ("prompt", "response_a", "response_b") for turns in df[column] for t in turns if t]


def _epoch_callback(out_dir, model, config, val, state, started):
    import keras

    from lmsys.llm.batches import predict_sequences, tta_average
    from lmsys.llm.checkpoint import save_best, save_resume_state
    from lmsys.run_dir import write_history

    seqs_va, swapped_va, labels = val

    class EpochEnd(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            plain, swapped = predict_sequences(model, seqs_va, swapped_va, buckets=config.buckets,
                                               max_length=config.sequence_length, rows=config.batch_size)
            tta = tta_average(plain, swapped)
            plain = plain / plain.sum(axis=1, keepdims=True)
            chosen = tta if config.tta else plain
            row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()},
                   "val_log_loss": log_loss(labels, chosen), "val_log_loss_no_tta": log_loss(labels, plain),
                   "val_accuracy": float((chosen.argmax(1) == labels).mean()),
                   "learning_rate": float(np.asarray(model.optimizer.learning_rate)),
                   "elapsed_s": state["elapsed_s"] + time.time() - started}
            state["history"].append(row)
            write_history(out_dir, state["history"])
            if row["val_log_loss"] < state["best_val_log_loss"]:
                state["best_val_log_loss"], state["best_epoch"] = row["val_log_loss"], epoch + 1
                save_best(out_dir, model, config, epoch + 1, {"val_log_loss": row["val_log_loss"]})
                print(f"\nepoch {epoch + 1}: val_log_loss improved to {row['val_log_loss']:.4f}; saved LoRA + head")
            save_resume_state(out_dir, model, {**state, "epoch": epoch + 1, "elapsed_s": row["elapsed_s"]})

    return EpochEnd()


def _resume_config(config: Config, out_dir, train_csv) -> Config:
    saved = Config.load(out_dir)  # a resumed run continues exactly the configuration it started with
    if os.path.abspath(saved.data) != os.path.abspath(train_csv):
        raise ValueError(f"--resume: {out_dir} was trained on {saved.data}, not {train_csv}; resume with the "
                         "same data (the validation split depends on it) or train into a new directory")
    ignored = sorted(k for k, v in config.to_dict().items() if k not in ("data", "lora_targets") and v != getattr(saved, k))
    if ignored:
        print(f"--resume keeps the run's own configuration; ignoring {ignored}")
    return saved


def train_model(config: Config, train_csv, out_dir, resume: bool = False, verbose="auto") -> dict:
    """Train config on train_csv into the model directory out_dir; returns the metrics written to metrics.json."""
    from lmsys.llm import checkpoint as ckpt
    from lmsys.llm.presets import is_tiny
    from lmsys.run_dir import set_aside_previous_run

    train_csv, out_dir = os.fspath(train_csv), os.fspath(out_dir)
    started = time.time()
    check_config(config)
    df = load_competition_csv(train_csv)  # a bad file stops here, before the output directory is touched
    state = ckpt.load_resume_state(out_dir) if resume else None
    if resume and state is None:
        print(f"--resume: no checkpoint in {out_dir}; starting from scratch")
    if state is not None:
        config = _resume_config(config, out_dir, train_csv)
    from lmsys.devices.precision import resolve_precision
    from lmsys.llm.backbone import BASE_DIR
    from lmsys.llm.parallel import prepare_devices, round_up

    policy = resolve_precision(config.precision)
    base_dir = os.path.join(out_dir, BASE_DIR)
    source = (base_dir if state is not None else "tiny") if is_tiny(config.preset) else config.preset
    # The memory plan refuses a base that cannot fit before the output directory is touched.
    setup = prepare_devices(source, config, policy, batch=2 * config.batch_size, sequence_length=config.sequence_length)
    if (2 * config.batch_size) % setup.multiple:  # each batch (rows + swaps) is split evenly over the copies
        print(f"batch_size {config.batch_size} -> {round_up(config.batch_size, setup.multiple)}: a multiple of the "
              f"{setup.multiple} data-parallel copies")
        config = config.replace(batch_size=round_up(config.batch_size, setup.multiple))
    if state is None:
        aside = set_aside_previous_run(out_dir)
        if aside:
            print(f"{out_dir} held an earlier run: moved to {aside}")
    os.makedirs(out_dir, exist_ok=True)
    config = config.replace(data=config.data or train_csv)

    import keras

    from lmsys.llm.backbone import load_backbone, load_tokenizer, save_base, tiny_tokenizer
    from lmsys.llm.batches import predict_sequences, steps_per_epoch, training_batches, tta_average
    from lmsys.llm.model import build_classifier, compile_classifier
    from lmsys.llm.template import row_and_swap_sequences, template_for

    print(df.attrs["report"].summary())
    train_df, val_df = train_val_split(df, config.val_fraction, config.seed)
    keras.utils.set_random_seed(config.seed)
    dtype = backbone_dtype(policy)
    print(f"llm preset {config.preset}; precision {policy} (base weights {dtype}); LoRA rank {config.lora_rank}; "
          f"{len(train_df)} train / {len(val_df)} validation rows, each with its A/B swap")

    if is_tiny(config.preset) and state is not None:
        tokenizer = load_tokenizer(base_dir)
        backbone = load_backbone(base_dir, config, dtype=dtype)
    elif is_tiny(config.preset):
        tokenizer = tiny_tokenizer(_texts(train_df), config.tiny_llm["vocabulary_size"], config.seed)
        backbone = load_backbone("tiny", config, tokenizer, dtype=dtype)
        save_base(base_dir, backbone, tokenizer)  # the random base is part of the model: saved before LoRA
    else:
        tokenizer = load_tokenizer(config.preset)
        backbone = load_backbone(config.preset, config, dtype=dtype)
    model, targets = build_classifier(backbone, config.lora_rank, config.lora_targets)
    if state is not None and sorted(targets) != sorted(config.lora_targets):
        raise ValueError(f"--resume: the saved run's lora_targets {config.lora_targets} resolve to {targets}")
    config = config.replace(lora_targets=targets)
    config.save(out_dir)
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    print(f"trainable: {trainable:,} of {model.count_params():,} parameters (LoRA on {', '.join(targets)} + head)")

    template = template_for(tokenizer)
    seqs_tr, swap_tr = row_and_swap_sequences(template, train_df, config.sequence_length, config.prompt_tokens,
                                              progress=True)
    seqs_va, swap_va = row_and_swap_sequences(template, val_df, config.sequence_length, config.prompt_tokens)
    y_tr = labels_onehot(train_df)
    labels = val_df["class_label"].to_numpy()

    steps = steps_per_epoch(seqs_tr, config)
    if steps == 0:
        raise ValueError(f"{train_csv}: too few training rows ({len(train_df)}) for one batch")
    compile_classifier(model, config, steps * config.epochs)
    initial_epoch = 0
    if state is not None:
        ckpt.restore_resume_weights(out_dir, model, state)
        initial_epoch = state["epoch"]
        print(f"resuming after epoch {initial_epoch} (best val log loss {state['best_val_log_loss']:.4f})")
    else:
        state = {"epoch": 0, "history": [], "best_val_log_loss": float("inf"), "best_epoch": None, "elapsed_s": 0.0}

    fit_started = time.time()
    if initial_epoch < config.epochs:
        model.fit(training_batches(seqs_tr, swap_tr, y_tr, config, initial_epoch), steps_per_epoch=steps,
                  epochs=config.epochs, initial_epoch=initial_epoch, verbose=verbose, shuffle=False,
                  callbacks=[_epoch_callback(out_dir, model, config, (seqs_va, swap_va, labels), state, started)])
    fit_seconds = time.time() - fit_started
    trained_epochs = config.epochs - initial_epoch

    # Final validation as inference runs it: the best generation reloaded, prediction's token budget, swap TTA.
    from lmsys.run_dir import best_generation, write_metrics, write_val_predictions

    ckpt.load_adapter(best_generation(out_dir), model, config.lora_rank, config.lora_targets)
    seqs_pv, swap_pv = row_and_swap_sequences(template, val_df, config.predict_sequence_length, config.prompt_tokens)
    plain, swapped = predict_sequences(model, seqs_pv, swap_pv, buckets=config.buckets,
                                       max_length=config.predict_sequence_length, rows=config.batch_size)
    tta = tta_average(plain, swapped)
    plain = plain / plain.sum(axis=1, keepdims=True)
    probs = tta if config.tta else plain
    write_val_predictions(out_dir, val_df["id"].to_numpy(), probs, labels)
    train_tokens = sum(len(s) for s in seqs_tr) * 2
    metrics = {
        "model_type": "llm", "preset": config.preset, "data": config.data, "precision": policy,
        "lora_rank": config.lora_rank, "lora_targets": targets, "trainable_params": trainable,
        "train_rows": len(train_df), "val_rows": len(val_df),
        "val_log_loss": log_loss(labels, probs), "val_accuracy": float((probs.argmax(1) == labels).mean()),
        "val_log_loss_no_tta": log_loss(labels, plain), "val_log_loss_tta": log_loss(labels, tta),
        "best_epoch_val_log_loss": state["best_val_log_loss"], "best_epoch": state["best_epoch"],
        "prior_log_loss": prior_log_loss(train_df["class_label"].to_numpy(), labels),
        "epochs": config.epochs, "wall_time_s": state["elapsed_s"] + time.time() - started,
        "fit_seconds": fit_seconds,  # the rates below are over this: compile and validation included
        "train_tokens_per_s": train_tokens * trained_epochs / fit_seconds if trained_epochs > 0 else None,
    }
    write_metrics(out_dir, metrics)
    print(f"val log loss {metrics['val_log_loss']:.4f} (no TTA {metrics['val_log_loss_no_tta']:.4f}), accuracy "
          f"{metrics['val_accuracy']:.3f}, class prior {metrics['prior_log_loss']:.4f}; model in {out_dir}")
    return metrics
