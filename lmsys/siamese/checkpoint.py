"""The Siamese model's weights in a model directory: each best generation holds the backbone and tokenizer
as a keras-hub preset plus the head (no optimizer state); checkpoint/ holds the last epoch with optimizer
state for `--resume`. The files every family shares are in lmsys/run_dir.py."""

from __future__ import annotations

import os
import shutil

import numpy as np

from lmsys.atomic import atomic_path, write_json
from lmsys.run_dir import CHECKPOINT_DIR, STATE_FILE, _read_json, best_generation, save_generation


def save_best(model_dir, model, tokenizer, epoch: int, extra: dict | None = None) -> str:
    from lmsys.siamese.backbone import save_preset

    def write(gen_dir):
        save_preset(os.path.join(gen_dir, "preset"), model.backbone, tokenizer)
        with atomic_path(os.path.join(gen_dir, "head.weights.npz"), suffix=".npz") as tmp:
            np.savez(tmp, **{f"w{i}": np.asarray(v) for i, v in enumerate(model.head.get_weights())})

    return save_generation(model_dir, epoch, write, extra)


def load_head(model, gen_dir) -> None:
    from lmsys.model_files import reading

    path = os.path.join(gen_dir, "head.weights.npz")
    with reading(path), np.load(path) as data:
        model.head.set_weights([data[f"w{i}"] for i in range(len(data.files))])


def load_classifier(model_dir, config=None):
    """Rebuild (config, model, tokenizer) exactly as training saved them."""
    from lmsys.config import Config
    from lmsys.siamese.backbone import load_backbone, load_tokenizer
    from lmsys.siamese.model import build_classifier

    from lmsys.model_files import RETRAIN, check_h5, read_preset_config, reading

    config = config or Config.load(model_dir)
    preset_dir = os.path.join(best_generation(model_dir), "preset")
    read_preset_config(preset_dir, RETRAIN)  # damaged files: an error naming the file, not one from deep in keras
    check_h5(os.path.join(preset_dir, "model.weights.h5"))
    with reading(preset_dir):
        tokenizer = load_tokenizer(preset_dir)
        backbone = load_backbone(preset_dir, config)
    model = build_classifier(config, backbone)
    load_head(model, os.path.dirname(preset_dir))
    return config, model, tokenizer


# --- resume state -------------------------------------------------------------------------------

def save_resume_state(model_dir, model, tokenizer, state: dict) -> None:
    """Full weights with optimizer state for `--resume`; state.json (written last) names the file."""
    ckpt = os.path.join(model_dir, CHECKPOINT_DIR)
    os.makedirs(ckpt, exist_ok=True)
    tok_dir = os.path.join(ckpt, "tokenizer")
    if not os.path.exists(os.path.join(tok_dir, "tokenizer.json")):
        tmp = tok_dir + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tokenizer.save_to_preset(tmp)
        os.replace(tmp, tok_dir)
    name = f"epoch-{state['epoch']}.weights.h5"
    with atomic_path(os.path.join(ckpt, name), suffix=".weights.h5") as tmp:
        model.save_weights(tmp)
    write_json(os.path.join(ckpt, STATE_FILE), {**state, "weights": name})
    for old in os.listdir(ckpt):  # older epochs, and temporaries of any epoch a killed run left (this run's is renamed)
        if (old.startswith("epoch-") and old != name) or (old.startswith(".epoch-") and ".tmp." in old):
            os.remove(os.path.join(ckpt, old))


def load_resume_state(model_dir) -> dict | None:
    path = os.path.join(model_dir, CHECKPOINT_DIR, STATE_FILE)
    return _read_json(path) if os.path.exists(path) else None


def load_resume_tokenizer(model_dir):
    """The tokenizer the interrupted run used (a `tiny` vocabulary is trained, so it must be this one), whatever
    its class: checkpoint/tokenizer holds what `tokenizer.save_to_preset` wrote (tokenizer.json + assets)."""
    import keras
    import keras_hub  # noqa: F401 - registers the tokenizer classes tokenizer.json names

    tok_dir = os.path.join(model_dir, CHECKPOINT_DIR, "tokenizer")
    tokenizer = keras.saving.deserialize_keras_object(_read_json(os.path.join(tok_dir, "tokenizer.json")))
    tokenizer.load_preset_assets(tok_dir)
    return tokenizer


def resume_weights_path(model_dir, state: dict) -> str:
    return os.path.join(model_dir, CHECKPOINT_DIR, state["weights"])
