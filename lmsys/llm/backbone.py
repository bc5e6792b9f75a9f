"""Resolving `--preset` for the LLM family: `tiny`, a keras-hub preset name, a local Keras preset
directory (a Kaggle Model under /kaggle/input) or a local Hugging Face-format directory (config.json
+ safetensors + tokenizer, converted by keras-hub; needs `safetensors`). A model directory that
holds its own base (`tiny`'s random one, or an export) under base/ uses that instead.
"""

from __future__ import annotations

import os

BASE_DIR = "base"


def base_source(model_dir, config) -> str:
    """Where a model directory's base backbone and tokenizer come from."""
    own = os.path.join(os.fspath(model_dir), BASE_DIR)
    if os.path.isfile(os.path.join(own, "config.json")):
        return own
    return config.preset


def check_preset(preset: str) -> None:
    """A local path must be a keras-hub or Hugging Face preset directory; checked before anything is written."""
    from lmsys.llm.presets import is_tiny

    if is_tiny(preset):
        return
    looks_local = os.sep in preset or preset.startswith(".") or os.path.exists(preset)
    if looks_local and not os.path.isfile(os.path.join(preset, "config.json")):
        raise FileNotFoundError(
            f"--preset {preset!r}: not a Keras or Hugging Face preset directory (no config.json). On Kaggle, "
            "attach the model (e.g. keras/gemma2/keras/gemma2_9b_en) and pass its /kaggle/input/... directory.")
    if looks_local and _is_hf_dir(preset):
        try:
            import safetensors  # noqa: F401
        except ImportError:
            raise ImportError(f"--preset {preset!r} is a Hugging Face directory: keras-hub needs the "
                              "`safetensors` package to convert it (pip install safetensors)") from None


def _is_hf_dir(path: str) -> bool:
    return not os.path.isfile(os.path.join(path, "metadata.json"))


def tiny_tokenizer(train_texts, vocab_size: int, seed: int = 0):
    import keras_hub

    from lmsys.llm.template import template_texts
    from lmsys.llm.vocab import train_gemma_vocab

    # The template's own words, repeated, get pieces of their own: the template then costs few tokens.
    texts = list(train_texts) + template_texts() * 200
    return keras_hub.models.GemmaTokenizer(proto=train_gemma_vocab(texts, vocab_size, seed))


def load_tokenizer(source: str):
    import keras_hub

    check_preset(source)
    return _from_preset(keras_hub.models.Tokenizer, source)


def load_backbone(source: str, config, tokenizer=None, dtype=None):
    """A decoder backbone; `tiny` is built from config.tiny_llm with the tokenizer's vocabulary size."""
    import keras_hub

    from lmsys.llm.presets import is_tiny

    if is_tiny(source):
        kwargs = dict(config.tiny_llm)
        if tokenizer is not None:
            kwargs["vocabulary_size"] = tokenizer.vocabulary_size()
        backbone = keras_hub.models.GemmaBackbone(**kwargs, dtype=dtype)
    else:
        check_preset(source)
        backbone = _from_preset(keras_hub.models.Backbone, source, dtype=dtype)
    check_decoder(backbone, source)
    return backbone


def check_decoder(backbone, source: str) -> None:
    names = {getattr(t, "name", "") for t in backbone.inputs}
    if not hasattr(backbone, "transformer_layers") or not hasattr(backbone, "enable_lora") \
            or not {"token_ids", "padding_mask"} <= names:
        raise ValueError(f"--preset {source!r}: {type(backbone).__name__} is not a decoder backbone with LoRA "
                         "(expected token_ids/padding_mask inputs, transformer_layers and enable_lora)")


def _from_preset(cls, preset: str, **kwargs):
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if os.path.isdir(preset):
        return cls.from_preset(preset, **kwargs)
    try:
        return cls.from_preset(preset, **kwargs)
    except Exception as exc:  # noqa: BLE001 - any download failure gets the same advice
        raise RuntimeError(
            f"could not load keras-hub preset {preset!r} by name ({type(exc).__name__}: {str(exc)[:200]}). "
            "Names download from Kaggle and need internet; offline, attach the Kaggle Model (e.g. "
            "keras/gemma2/keras/gemma2_9b_en) and pass its /kaggle/input/... directory, or use --preset tiny."
        ) from exc


def save_base(directory, backbone, tokenizer) -> None:
    """Backbone + tokenizer as a keras-hub preset, written beside and moved into place whole."""
    from lmsys.atomic import replace_dir

    tmp = os.fspath(directory) + ".tmp"
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    backbone.save_to_preset(tmp)
    tokenizer.save_to_preset(tmp)
    replace_dir(tmp, directory)


def count_params_abstract(backbone_cls, **kwargs) -> int:
    """Parameter count of a backbone built without allocating its weights (Gemma-2-9B would need 37 GB)."""
    import keras
    from keras.src.backend.common import global_state

    registered = list(global_state.get_global_attribute("uninitialized_variables", []) or [])
    try:
        with keras.StatelessScope(initialize_variables=False):
            return int(backbone_cls(**kwargs).count_params())
    finally:
        # Keras would otherwise allocate these variables the next time any stateless scope closes (fit does).
        global_state.set_global_attribute("uninitialized_variables", registered)
