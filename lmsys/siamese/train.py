"""Training the Siamese model: read -> split -> options/tokens -> bucketed tf.data -> fit -> model directory.

Every epoch the best-so-far model (by validation log loss) and a resume checkpoint are written
atomically, so a killed run loses at most the epoch in flight and `--resume` continues it.
"""

from __future__ import annotations

import os
import time

import numpy as np

from lmsys.config import Config
from lmsys.data import labels_onehot, load_competition_csv, swap_columns
from lmsys.data.split import train_val_split
from lmsys.evaluate.metrics import class_prior, log_loss, prior_log_loss

TINY_DEFAULTS = dict(learning_rate=2e-3, head_learning_rate=0.0, sequence_length=256, batch_size=16, epochs=4,
                     buckets=[64, 128, 192], warmup_fraction=0.05, dropout=0.1)


def default_config(preset: str = "tiny", **overrides) -> Config:
    """The starter's settings for pretrained presets; settings that train from scratch fast for `tiny`."""
    from lmsys.siamese.backbone import is_tiny

    base = Config(preset=preset, model_type="siamese")
    if is_tiny(preset):
        base = base.replace(**TINY_DEFAULTS)
    return base.replace(**{k: v for k, v in overrides.items() if v is not None})


def _real_rows(size: int, real: int) -> np.ndarray:
    """Sample weights: 1 for a batch's real rows, 0 for the filler that keeps its shape fixed."""
    return (np.arange(size) < real).astype(np.float32)


def _datasets(pairs_tr, y_tr, pairs_va, y_va, config, initial_epoch, multiple):
    import tensorflow as tf

    from lmsys.siamese.batching import pad_batch, prediction_plan, swap_sides, training_plan

    if config.pad_each_option:
        spec_x = {"short_ids": tf.TensorSpec((None, None), tf.int32), "short_mask": tf.TensorSpec((None, None), tf.bool),
                  "long_ids": tf.TensorSpec((None, None), tf.int32), "long_mask": tf.TensorSpec((None, None), tf.bool),
                  "a_is_long": tf.TensorSpec((None,), tf.bool)}
    else:
        spec_x = {"token_ids": tf.TensorSpec((None, 2, None), tf.int32),
                  "padding_mask": tf.TensorSpec((None, 2, None), tf.bool)}
    if pairs_tr.lengths_a is not None:
        spec_x["lengths"] = tf.TensorSpec((None, 2, pairs_tr.lengths_a.shape[1]), tf.float32)

    def train_gen():
        epoch = initial_epoch
        while True:  # one pass per epoch, reshuffled from (seed, epoch) so a resumed run sees the same order
            rng = np.random.default_rng([config.seed, epoch])
            for index, shape, real in training_plan(pairs_tr, config, rng, multiple):
                x, y = pad_batch(pairs_tr, index, shape), y_tr[index]
                if config.swap_augment:
                    flip = rng.random(len(index)) < 0.5
                    x, y = swap_sides(x, flip), np.where(flip[:, None], swap_columns(y), y)
                yield x, y, _real_rows(len(index), real)
            epoch += 1

    val_plan = prediction_plan(pairs_va, config, multiple)

    def val_gen():
        for index, shape, real in val_plan:
            yield pad_batch(pairs_va, index, shape), y_va[index], _real_rows(len(index), real)

    signature = (spec_x, tf.TensorSpec((None, 3), tf.float32), tf.TensorSpec((None,), tf.float32))
    train_ds = tf.data.Dataset.from_generator(train_gen, output_signature=signature).prefetch(4)
    val_ds = tf.data.Dataset.from_generator(val_gen, output_signature=signature)
    return train_ds, val_ds.cache().prefetch(4), len(val_plan)


def _precompile_steps(model, pairs_tr, y_tr, pairs_va, y_va, config, multiple) -> None:
    """Compile the train and validation step of every batch shape before fit, several at a time."""
    from lmsys.siamese.batching import pad_batch, prediction_plan, training_plan
    from lmsys.devices.precompile import one_per_shape, precompile

    if config.compile_threads == 1:
        return
    plan = training_plan(pairs_tr, config, np.random.default_rng(config.seed), multiple)
    train = [(pad_batch(pairs_tr, index, shape), y_tr[index].astype(np.float32), _real_rows(len(index), real))
             for index, shape, real in one_per_shape(plan)]
    test = [(pad_batch(pairs_va, index, shape), y_va[index].astype(np.float32), _real_rows(len(index), real))
            for index, shape, real in one_per_shape(prediction_plan(pairs_va, config, multiple))]
    precompile(model, train=train, test=test, workers=config.compile_threads)


def _history_callback(model_dir, model, tokenizer, state, started):
    import keras

    from lmsys.run_dir import write_history
    from lmsys.siamese.checkpoint import save_best, save_resume_state

    class EpochEnd(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()},
                   "learning_rate": float(np.asarray(model.optimizer.learning_rate)),
                   "elapsed_s": state["elapsed_s"] + time.time() - started}
            state["history"].append(row)
            write_history(model_dir, state["history"])
            val = row.get("val_log_loss", float("inf"))
            if val < state["best_val_log_loss"]:
                state["best_val_log_loss"], state["best_epoch"] = val, epoch + 1
                save_best(model_dir, model, tokenizer, epoch + 1, {"val_log_loss": val})
                print(f"\nepoch {epoch + 1}: val_log_loss improved to {val:.4f}; saved best model")
            save_resume_state(model_dir, model, tokenizer, {**state, "epoch": epoch + 1,
                                                            "elapsed_s": row["elapsed_s"]})

    return EpochEnd()


def train_model(config: Config, train_csv: str, out_dir: str, resume: bool = False, verbose: int | str = "auto") -> dict:
    """Train config on train_csv into the model directory out_dir; returns the metrics written to metrics.json."""
    import keras

    from lmsys import run_dir
    from lmsys.siamese import checkpoint as md
    from lmsys.siamese.backbone import is_tiny, load_backbone, load_tokenizer
    from lmsys.devices.distribute import setup_data_parallel
    from lmsys.siamese.model import build_classifier, compile_classifier
    from lmsys.data.options import options_from_config
    from lmsys.devices.precision import resolve_precision
    from lmsys.siamese.tokens import tokenize_pairs

    started = time.time()
    state = md.load_resume_state(out_dir) if resume else None
    if resume and state is None:
        print(f"--resume: no checkpoint in {out_dir}; starting from scratch")
    if state is not None:
        saved = Config.load(out_dir)  # a resumed run continues exactly the configuration it started with
        if os.path.abspath(saved.data) != os.path.abspath(train_csv):
            raise ValueError(f"--resume: {out_dir} was trained on {saved.data}, not {train_csv}; resume with the "
                             "same data (the validation split depends on it) or train into a new directory")
        ignored = {k: v for k, v in config.to_dict().items() if k != "data" and v != getattr(saved, k)}
        if ignored:
            print(f"--resume keeps the run's own configuration; ignoring {sorted(ignored)}")
        config = saved
    else:
        aside = run_dir.set_aside_previous_run(out_dir)
        if aside:
            print(f"{out_dir} held an earlier run: moved to {aside}")
    os.makedirs(out_dir, exist_ok=True)
    config = config.replace(data=config.data or os.fspath(train_csv))

    df = load_competition_csv(train_csv)
    print(df.attrs["report"].summary())
    train_df, val_df = train_val_split(df, config.val_fraction, config.seed)
    keras.utils.set_random_seed(config.seed)
    policy = resolve_precision(config.precision)
    keras.config.set_dtype_policy(policy)
    multiple = setup_data_parallel()  # every local device; batches are multiples of the count
    print(f"preset {config.preset}; precision {policy}; {multiple} device(s); "
          f"{len(train_df)} train / {len(val_df)} validation rows")

    if state is not None:
        tokenizer = md.load_resume_tokenizer(out_dir)
    elif is_tiny(config.preset):
        opt_a, opt_b = options_from_config(train_df, config)
        tokenizer = load_tokenizer("tiny", opt_a + opt_b, config.tiny_backbone["vocabulary_size"], config.seed)
    else:
        tokenizer = load_tokenizer(config.preset)
    backbone = load_backbone(config.preset, config, tokenizer)
    model = build_classifier(config, backbone)
    config.save(out_dir)

    pairs_tr = tokenize_pairs(train_df, config, tokenizer)
    pairs_va = tokenize_pairs(val_df, config, tokenizer)
    y_tr, y_va = labels_onehot(train_df), labels_onehot(val_df)

    from lmsys.siamese.batching import steps_per_epoch

    steps = steps_per_epoch(pairs_tr, config, multiple)
    if steps == 0:
        raise ValueError(f"{train_csv}: too few training rows ({len(train_df)}) for one batch")
    compile_classifier(model, config, steps * config.epochs)

    initial_epoch = 0
    if state is not None:
        model.optimizer.build(model.trainable_variables)
        model.load_weights(md.resume_weights_path(out_dir, state))
        initial_epoch = state["epoch"]
        print(f"resuming after epoch {initial_epoch} (best val log loss {state['best_val_log_loss']:.4f})")
    else:
        state = {"epoch": 0, "history": [], "best_val_log_loss": float("inf"), "best_epoch": None, "elapsed_s": 0.0}
        prior = class_prior(train_df["class_label"].to_numpy())
        if config.swap_augment:  # half the rows are seen swapped: A and B win equally often
            prior = np.array([(prior[0] + prior[1]) / 2] * 2 + [prior[2]])
        model.start_at_prior(prior)

    train_ds, val_ds, val_steps = _datasets(pairs_tr, y_tr, pairs_va, y_va, config, initial_epoch, multiple)
    fit_started = time.time()
    if initial_epoch < config.epochs:
        _precompile_steps(model, pairs_tr, y_tr, pairs_va, y_va, config, multiple)
        model.fit(train_ds, steps_per_epoch=steps, epochs=config.epochs, initial_epoch=initial_epoch,
                  validation_data=val_ds, validation_steps=val_steps, verbose=verbose, shuffle=False,
                  callbacks=[_history_callback(out_dir, model, tokenizer, state, started)])
    fit_seconds = time.time() - fit_started
    trained_epochs = config.epochs - initial_epoch

    # Final validation as inference runs it (best weights as saved, swap TTA), kept for blending and reports;
    # one pass gives both the plain and the TTA probabilities.
    from lmsys.siamese.predict import plain_and_tta, precompile_prediction, predict_pairs

    _, best_model, _ = md.load_classifier(out_dir, config)
    best_model.set_inference("both")
    precompile_prediction(best_model, pairs_va, config, multiple)
    probs_plain, probs_tta = plain_and_tta(predict_pairs(best_model, pairs_va, config, multiple))
    probs = probs_tta if config.tta else probs_plain
    labels = val_df["class_label"].to_numpy()
    run_dir.write_val_predictions(out_dir, val_df["id"].to_numpy(), probs, labels)

    metrics = {
        "model_type": "siamese", "preset": config.preset, "data": config.data, "precision": policy,
        "train_rows": len(train_df), "val_rows": len(val_df),
        "val_log_loss": log_loss(labels, probs), "val_accuracy": float((probs.argmax(1) == labels).mean()),
        "val_log_loss_no_tta": log_loss(labels, probs_plain), "val_log_loss_tta": log_loss(labels, probs_tta),
        # measured inside fit on the same rows, weights and TTA setting as val_log_loss (filler rows weigh 0 in
        # both); only Keras' float32 accumulation and its 1e-7 clipping (1e-15 here) differ
        "best_epoch_val_log_loss": state["best_val_log_loss"], "best_epoch": state["best_epoch"],
        "best_epoch_val_tta": bool(config.tta),
        "prior_log_loss": prior_log_loss(train_df["class_label"].to_numpy(), labels),
        "epochs": config.epochs, "wall_time_s": state["elapsed_s"] + time.time() - started,
        "fit_seconds": fit_seconds,  # rows_per_s below is over this: compile and validation included
        "rows_per_s": len(pairs_tr) * trained_epochs / fit_seconds if trained_epochs > 0 else None,
    }
    run_dir.write_metrics(out_dir, metrics)
    print(f"val log loss {metrics['val_log_loss']:.4f} (no TTA {metrics['val_log_loss_no_tta']:.4f}), "
          f"accuracy {metrics['val_accuracy']:.3f}, class prior {metrics['prior_log_loss']:.4f}; model in {out_dir}")
    return metrics
