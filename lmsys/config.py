"""The one configuration object, saved as config.json beside every trained model.

Inference rebuilds exactly what training used from this file alone: option format, sequence
length, precision, attention implementation, TTA. Unknown keys in a saved file are an error (a typo
there would silently change a model), missing keys take today's defaults. Each family's defaults
live in its own folder (lmsys/<family>/); the field defaults here are the Siamese model's.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field

from lmsys.atomic import write_json
from lmsys.data.options import DEFAULT_TEMPLATE

CONFIG_FILE = "config.json"

# A small DebertaV3Backbone that really trains on a 2-core CPU in minutes.
TINY_BACKBONE = {
    "vocabulary_size": 2000,
    "num_layers": 2,
    "num_heads": 2,
    "hidden_dim": 64,
    "intermediate_dim": 128,
    "max_sequence_length": 512,
    "bucket_size": 64,
}


def parse_bool(value) -> bool:
    """A command-line flag value (invoke passes strings): true/false, yes/no, on/off, 1/0."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


# Keys older config.json files hold that nothing reads now, with the value whose behaviour the code kept.
RETIRED_KEYS = {"pooling": "masked_mean"}


def coerce(key: str, raw):
    """A configuration value from text (a flag or KEY=VALUE), typed by the Config field it sets."""
    fields = {f.name: f for f in dataclasses.fields(Config)}
    if key not in fields:
        raise ValueError(f"unknown configuration key {key!r}; known: {', '.join(sorted(fields))}")
    if not isinstance(raw, str):
        return raw
    default = getattr(Config(), key)
    try:
        if isinstance(default, bool):
            return parse_bool(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, (list, dict)):
            value = json.loads(raw)
            if not isinstance(value, type(default)):
                raise ValueError(f"expected a JSON {type(default).__name__}")
            return value
    except ValueError as err:
        raise ValueError(f"{key}={raw!r}: {err}") from None
    return raw


def parse_overrides(items) -> dict:
    """KEY=VALUE strings (invoke's --set, the training kernel's --set) as typed Config values."""
    values = {}
    for item in items or ():
        key, sep, raw = str(item).partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set {item!r}: expected KEY=VALUE")
        values[key.strip()] = coerce(key.strip(), raw)
    return values


@dataclass
class Config:
    model_type: str = "siamese"  # a key of lmsys.models.FAMILIES
    preset: str = "tiny"  # keras-hub preset name, local preset directory, or "tiny"
    data: str = ""  # training csv used ("builtin-sample" for the generated one)
    seed: int = 42
    val_fraction: float = 0.2
    # options (text format)
    turns: str = "all"  # "all" or "first" (the starter)
    template: str = DEFAULT_TEMPLATE
    turn_separator: str = "\n\n"
    max_chars: int = 6000  # character budget per option before tokenization (head+tail per turn)
    # model
    sequence_length: int = 512
    dropout: float = 0.1
    attention: str = "fast"  # "fast" (lmsys.siamese.attention: same weights and outputs, no L x L gathers) or "keras_hub"
    attention_dropout: bool = True  # fast only: False skips dropout on attention probabilities for the fused kernel
    attention_kernel: str = ""  # fast only: "" lets JAX choose (XLA), "cudnn" asks for cuDNN flash attention
    precision: str = "auto"  # auto | float32 | mixed_float16 | mixed_bfloat16
    tiny_backbone: dict = field(default_factory=lambda: dict(TINY_BACKBONE))
    # training
    epochs: int = 3
    batch_size: int = 16
    learning_rate: float = 5e-6
    head_learning_rate: float = 1e-3  # peak rate of the new (randomly initialised) head, same schedule; 0: learning_rate
    warmup_fraction: float = 0.1
    min_lr_fraction: float = 0.05
    weight_decay: float = 0.0
    label_smoothing: float = 0.02
    swap_augment: bool = False
    buckets: list = field(default_factory=lambda: [128, 256, 384, 512])
    pad_each_option: bool = True  # pad A and B to their own buckets (False: both to the pair's longer one)
    tokens_per_batch: int = 0  # 0: batch_size * sequence_length
    compile_threads: int = 1  # 1: JAX compiles each step shape lazily; N > 1: all up front, N at a time (0: per core, <= 4)
    # prediction
    tta: bool = True
    # free-form, for model types that need more (e.g. the features model)
    extra: dict = field(default_factory=dict)

    def replace(self, **changes) -> "Config":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict, source: str = "config") -> "Config":
        values = dict(values)
        for key, only in RETIRED_KEYS.items():  # keys older files hold, with the one value the code still does
            if key in values and (value := values.pop(key)) != only:
                raise ValueError(f"{source}: {key}={value!r} is no longer supported (only {only!r})")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{source}: unknown configuration key(s) {unknown}")
        return cls(**values)

    def save(self, model_dir) -> str:
        path = os.path.join(os.fspath(model_dir), CONFIG_FILE)
        write_json(path, self.to_dict())
        return path

    @classmethod
    def load(cls, model_dir) -> "Config":
        path = os.path.join(os.fspath(model_dir), CONFIG_FILE)
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no {CONFIG_FILE}; is {model_dir} a model directory made by `invoke train`?")
        with open(path, encoding="utf-8") as fh:
            return cls.from_dict(json.load(fh), source=path)
