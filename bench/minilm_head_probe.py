"""The Siamese head alone on a frozen pretrained encoder: which head settings can learn from a thousand rows.

Not a test. A fine-tune of all-MiniLM-L6-v2 on the 999 real rows takes ~35 minutes on a 2-core CPU; this script
encodes every option once with the frozen encoder (pooled as the model pools, ~3 minutes), then trains only the
head as `lmsys.siamese` builds it (zero kernel, log-prior bias, Dropout, Dense(3) softmax, Adam with warmup and
cosine decay over the same number of steps, swap augmentation, label smoothing 0.02) for each setting in seconds,
and prints its validation log loss with the paired-bootstrap gain over the class prior. It is how the head's
start and the length features' scale (lmsys/siamese/lengths.py) were chosen; the fine-tune itself is
bench/minilm_finetune.py.

    KERAS_BACKEND=jax python bench/minilm_head_probe.py --preset-dir /tmp/mini/preset
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# (inputs, length scale multiplier, head learning rate, kernel init): 1 = lengths standardised to std 1
SETTINGS = [
    ("pooled", 1, 1e-3, "glorot_uniform"),
    ("pooled", 1, 1e-3, "zeros"),
    ("lengths", 1, 1e-3, "glorot_uniform"),
    ("lengths", 1, 1e-3, "zeros"),
    ("pooled+lengths", 1, 1e-3, "zeros"),
    ("pooled+lengths", 1, 3e-3, "zeros"),
    ("pooled+lengths", 4, 1e-3, "zeros"),
    ("pooled+lengths", 4, 3e-3, "zeros"),
]


def pooled_vectors(df, config):
    """(rows, 2, hidden) pooled vectors of every option, frozen encoder, inference mode."""
    import jax
    import numpy as np

    from lmsys.siamese.backbone import load_backbone, load_tokenizer
    from lmsys.siamese.batching import pad_batch, prediction_plan
    from lmsys.siamese.model import build_classifier
    from lmsys.siamese.tokens import tokenize_pairs

    tokenizer = load_tokenizer(config.preset)
    model = build_classifier(config, load_backbone(config.preset, config, tokenizer))
    pairs = tokenize_pairs(df, config, tokenizer)
    encode = jax.jit(lambda x: model.pooled_pair(x))
    out = None
    for index, shape, real in prediction_plan(pairs, config):
        a, b = (np.asarray(v) for v in encode(pad_batch(pairs, index, shape)))
        if out is None:
            out = np.zeros((len(pairs), 2, a.shape[1]), np.float32)
        out[index[:real], 0], out[index[:real], 1] = a[:real], b[:real]
    return out


def train_head(x_a, x_b, y, val_a, val_b, prior, lr, init, epochs, batch, seed):
    """P(A, B, tie) of the validation rows (swap TTA) from a head trained on (x_a, x_b)."""
    import keras
    import numpy as np

    from lmsys.data import swap_columns

    keras.utils.set_random_seed(seed)
    head = keras.Sequential([keras.Input((2 * x_a.shape[1],)), keras.layers.Dropout(0.1),
                             keras.layers.Dense(3, activation="softmax", kernel_initializer=init)])
    head.layers[-1].bias.assign(np.log(prior).astype("float32"))
    steps = epochs * -(-len(y) // batch)
    warmup = max(1, int(0.1 * steps))
    schedule = keras.optimizers.schedules.CosineDecay(lr * 0.01, steps - warmup, alpha=0.05, warmup_target=lr,
                                                      warmup_steps=warmup)
    head.compile(keras.optimizers.Adam(schedule), keras.losses.CategoricalCrossentropy(label_smoothing=0.02))
    rng = np.random.default_rng(seed)
    onehot = np.eye(3, dtype="float32")[y]
    for _ in range(epochs):
        flip = rng.random(len(y)) < 0.5
        xs = np.where(flip[:, None], np.concatenate([x_b, x_a], 1), np.concatenate([x_a, x_b], 1))
        head.fit(xs, np.where(flip[:, None], swap_columns(onehot), onehot), batch_size=batch, epochs=1, verbose=0)
    plain = head.predict(np.concatenate([val_a, val_b], 1), verbose=0)
    swapped = head.predict(np.concatenate([val_b, val_a], 1), verbose=0)
    return 0.5 * (plain + swap_columns(swapped))


def main(argv=None) -> int:
    from minilm_finetune import DEFAULT_CSV, model_zip, prepare_preset

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--csv", default=DEFAULT_CSV)
    p.add_argument("--preset-dir", default=os.path.join(ROOT, "data", "all-MiniLM-L6-v2"))
    p.add_argument("--sequence-length", type=int, default=256)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--seeds", type=int, default=2)
    args = p.parse_args(argv)

    import numpy as np

    from lmsys.data import load_competition_csv
    from lmsys.data.split import train_val_split
    from lmsys.evaluate.metrics import class_prior, gain_interval, log_loss
    from lmsys.siamese.lengths import LENGTH_FEATURES, response_lengths
    from lmsys.siamese.train import default_config

    started = time.time()
    config = default_config(prepare_preset(model_zip(), args.preset_dir), sequence_length=args.sequence_length,
                            length_features={})
    df = load_competition_csv(args.csv)
    pooled = pooled_vectors(df, config)
    print(f"encoded {len(df)} rows x 2 options in {time.time() - started:.0f} s")
    unit = {name: [center, scale * 4] for name, (center, scale) in LENGTH_FEATURES.items()}  # std 1
    len_a, len_b = response_lengths(df, unit)
    train_df, val_df = train_val_split(df, config.val_fraction, config.seed)
    position = {row_id: k for k, row_id in enumerate(df["id"])}
    tr = np.array([position[i] for i in train_df["id"]])
    va = np.array([position[i] for i in val_df["id"]])
    y, y_val = train_df["class_label"].to_numpy(), val_df["class_label"].to_numpy()
    prior = class_prior(y)
    sym = np.array([(prior[0] + prior[1]) / 2] * 2 + [prior[2]])  # swap augmentation: A and B win equally often
    base = np.tile(prior, (len(va), 1))
    print(f"class prior on the validation rows: {log_loss(y_val, base):.4f}; {len(tr)} train / {len(va)} validation")

    def side(rows, which, inputs, mult):
        parts = ([pooled[rows, which]] if "pooled" in inputs else []) + \
                ([(len_a if which == 0 else len_b)[rows] * mult] if "lengths" in inputs else [])
        return np.concatenate(parts, axis=1).astype("float32")

    for inputs, mult, lr, init in SETTINGS:
        for seed in range(args.seeds):
            probs = train_head(side(tr, 0, inputs, mult), side(tr, 1, inputs, mult), y,
                               side(va, 0, inputs, mult), side(va, 1, inputs, mult), sym, lr, init,
                               args.epochs, config.batch_size, seed)
            g = gain_interval(y_val, probs, base)
            std = f"lengths std {mult}" if "lengths" in inputs else "no lengths"
            print(f"{inputs:15s} {std:14s} head lr {lr:g} {init:14s} seed {seed}: val log loss "
                  f"{log_loss(y_val, probs):.4f}, gain {g['gain']:+.4f} [{g['low']:+.4f}, {g['high']:+.4f}]", flush=True)
    print(f"wall time {time.time() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
