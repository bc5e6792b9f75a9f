"""Resolving `--preset`: a keras-hub preset name, a local preset directory, or `tiny`.

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
    return _from_preset(keras_hub.models.DebertaV3Tokenizer, preset)


def load_backbone(preset: str, config, tokenizer=None):
    """Backbone with the attention implementation the configuration names."""
    import keras_hub

    with attention_context(config):
        if is_tiny(preset):
            kwargs = dict(config.tiny_backbone)
            if tokenizer is not None:
                kwargs["vocabulary_size"] = tokenizer.vocabulary_size()
            return keras_hub.models.DebertaV3Backbone(**kwargs)
        return _from_preset(keras_hub.models.DebertaV3Backbone, preset)


def _from_preset(cls, preset: str):
    _check_preset(preset)
    if os.path.isdir(preset):
        return cls.from_preset(preset)
    try:
        return cls.from_preset(preset)
    except Exception as exc:  # noqa: BLE001 - any download failure gets the same advice
        raise RuntimeError(
            f"could not load keras-hub preset {preset!r} by name ({type(exc).__name__}: {str(exc)[:200]}). "
            "Names download from Kaggle and need internet; offline (a Kaggle kernel with internet off), attach "
            "the model (e.g. keras/deberta_v3/keras/deberta_v3_extra_small_en) and pass its /kaggle/input/... "
            "directory, or use --preset tiny.") from exc


def _check_preset(preset: str) -> None:
    looks_local = os.sep in preset or preset.startswith(".") or os.path.exists(preset)
    if looks_local and not os.path.isfile(os.path.join(preset, "config.json")):
        raise FileNotFoundError(
            f"preset {preset!r}: not a keras-hub preset directory (no config.json). On Kaggle, attach the model "
            "(e.g. keras/deberta_v3/keras/deberta_v3_extra_small_en) and pass its /kaggle/input/... directory.")


def save_preset(directory, backbone, tokenizer) -> None:
    backbone.save_to_preset(directory)
    tokenizer.save_to_preset(directory)
