"""Resolving `--preset`: any keras-hub text encoder preset, or `tiny`.

A preset is whatever `keras_hub.models.Backbone.from_preset` / `keras_hub.models.Tokenizer.from_preset` load:
a name (downloads from Kaggle), a Keras preset directory (`save_to_preset`), or a Hugging Face-format directory
(config.json + model.safetensors + tokenizer files; keras-hub 0.32 converts BERT, RoBERTa, XLM-RoBERTa,
DistilBERT and ALBERT among the encoders, and needs the `safetensors` package for it). The encoder must take
token_ids and padding_mask (segment_ids too for BERT/ALBERT, given as zeros) and return one vector per token.
DeBERTa-v3 is the default and gets the fast disentangled attention (lmsys.siamese.attention); other
encoders run keras-hub's own layers. Special-token ids come from the tokenizer (lmsys.siamese.tokens).

On Kaggle a pretrained preset is attached as a Kaggle Model and read from its /kaggle/input
directory; here (no downloads) `tiny` builds a small DebertaV3Backbone and trains its vocabulary.
"""

from __future__ import annotations

import os


def attention_context(config):
    """Build inside this to get the configured attention (lmsys.siamese.attention), with a kernel this device runs."""
    import jax
    import keras

    from lmsys.siamese.attention import attention_implementation, kernel_for_device

    kernel = None
    if config.attention == "fast" and config.attention_kernel:
        device = jax.devices()[0]
        kernel = kernel_for_device(config.attention_kernel, device.platform, getattr(device, "device_kind", ""),
                                   keras.config.dtype_policy().name)
    return attention_implementation(config.attention, attention_dropout=config.attention_dropout,
                                    implementation=kernel)


def is_tiny(preset: str) -> bool:
    return preset == "tiny"


def load_tokenizer(preset: str, train_texts=None, tiny_vocab_size: int = 2000, seed: int = 0):
    import keras_hub

    if is_tiny(preset):
        from lmsys.siamese.vocab import train_vocab

        if train_texts is None:
            raise ValueError("preset 'tiny' trains its vocabulary: training texts are required")
        return keras_hub.models.DebertaV3Tokenizer(proto=train_vocab(train_texts, tiny_vocab_size, seed))
    return _from_preset(keras_hub.models.Tokenizer, preset)


def load_backbone(preset: str, config, tokenizer=None):
    """Backbone with the attention implementation the configuration names (DeBERTa-v3 only)."""
    import keras_hub

    with attention_context(config):
        if is_tiny(preset):
            kwargs = dict(config.tiny_backbone)
            if tokenizer is not None:
                kwargs["vocabulary_size"] = tokenizer.vocabulary_size()
            return keras_hub.models.DebertaV3Backbone(**kwargs)
        backbone = _from_preset(keras_hub.models.Backbone, preset)
    check_encoder(backbone, preset, config.sequence_length)
    return backbone


ENCODER_INPUTS = {"token_ids", "padding_mask", "segment_ids"}


def check_encoder(backbone, preset: str, sequence_length: int) -> None:
    """One clear line when a preset's backbone cannot be the Siamese encoder."""
    names = set(backbone.input) if isinstance(backbone.input, dict) else set()
    if not {"token_ids", "padding_mask"} <= names or not names <= ENCODER_INPUTS:
        raise ValueError(f"--preset {preset!r}: {type(backbone).__name__} takes inputs {sorted(names) or '?'}; the "
                         "Siamese model needs a text encoder taking token_ids and padding_mask (e.g. DeBERTa-v3, "
                         "BERT, RoBERTa, XLM-RoBERTa, DistilBERT, ALBERT)")
    limit = getattr(backbone, "max_sequence_length", None)
    if limit is not None and sequence_length > int(limit):
        raise ValueError(f"--sequence-length {sequence_length} is longer than preset {preset!r} allows "
                         f"({type(backbone).__name__} max_sequence_length {limit}); use --sequence-length {limit} "
                         "or less")


def _from_preset(cls, preset: str):
    _check_preset(preset)
    if os.path.isdir(preset):
        try:
            return cls.from_preset(preset)
        except Exception as exc:  # noqa: BLE001 - keras-hub's messages for unusable directories vary
            raise ValueError(f"--preset {preset!r}: keras-hub could not load a {cls.__name__} from this directory "
                             f"({type(exc).__name__}: {_first_line(exc)}){_hf_hint(preset)}") from exc
    try:
        return cls.from_preset(preset)
    except Exception as exc:  # noqa: BLE001 - any download failure gets the same advice
        raise RuntimeError(
            f"could not load keras-hub preset {preset!r} by name ({type(exc).__name__}: {str(exc)[:200]}). "
            "Names download from Kaggle and need internet; offline (a Kaggle kernel with internet off), attach "
            "the model (e.g. keras/deberta_v3/keras/deberta_v3_extra_small_en) and pass its /kaggle/input/... "
            "directory, or use --preset tiny.") from exc


def _first_line(exc) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else "")[:300]


def _hf_hint(preset: str) -> str:
    """What a Hugging Face-format directory most often lacks."""
    import importlib.util
    import json

    try:
        with open(os.path.join(preset, "config.json"), encoding="utf-8") as fh:
            hf_type = json.load(fh).get("model_type")
    except (OSError, ValueError, AttributeError):
        return ""
    if not hf_type:
        return ""
    hints = [f"a Hugging Face-format directory (model_type {hf_type!r}); keras-hub 0.32 converts bert, roberta, "
             "xlm-roberta, distilbert and albert encoders (not deberta-v2/v3)"]
    if importlib.util.find_spec("safetensors") is None:
        hints.append("the `safetensors` package is not installed (pip install safetensors)")
    if hf_type == "bert" and not os.path.exists(os.path.join(preset, "vocab.txt")):
        hints.append("vocab.txt is missing (write it from tokenizer.json's model.vocab, one token per line in id order)")
    return "; " + "; ".join(hints)


def _check_preset(preset: str) -> None:
    looks_local = os.sep in preset or preset.startswith(".") or os.path.exists(preset)
    if looks_local and not os.path.isfile(os.path.join(preset, "config.json")):
        raise FileNotFoundError(
            f"preset {preset!r}: not a keras-hub preset directory (no config.json). On Kaggle, attach the model "
            "(e.g. keras/deberta_v3/keras/deberta_v3_extra_small_en) and pass its /kaggle/input/... directory.")


def save_preset(directory, backbone, tokenizer) -> None:
    backbone.save_to_preset(directory)
    tokenizer.save_to_preset(directory)
