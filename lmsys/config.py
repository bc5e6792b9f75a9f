"""The one configuration object, saved as config.json beside every trained model.

Inference rebuilds exactly what training used from this file alone: option format, sequence
length, precision, attention implementation, TTA. Unknown keys in a saved file are an error (a typo
there would silently change a model), and so are missing keys (today's default would silently change
it too: a model trained at 64 tokens would predict at 512), except the keys in ADDED_LATER, which files
written before they existed lack, read with the value that reproduces what that older code did.
`config_version` says which version of this object wrote a file (files without it: version 1).
Each family's defaults live in its own folder (lmsys/<family>/); the field defaults here are the Siamese model's.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field

from lmsys.atomic import write_json
from lmsys.data.options import DEFAULT_TEMPLATE
from lmsys.siamese.lengths import LENGTH_FEATURES, check_length_features

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

# The version of this object a new config.json is written with; a file without config_version is version 1.
CONFIG_VERSION = 2

# Keys added after the first config.json files were written, each with the value that reproduces what the
# code did before the key existed. A saved file may lack exactly these; any other missing key is an error.
ADDED_LATER = {
    "config_version": 1,  # (version 2) files before versioning
    "attention_dropout": True,  # (21adc67) attention probabilities always had dropout
    "attention_kernel": "",  # (21adc67) JAX chose the kernel
    "pad_each_option": False,  # (48060ac) both options were padded to the pair's longer bucket
    "compile_threads": 1,  # (51a8ef1) every step shape compiled lazily at its first step
    "head_learning_rate": 0.0,  # (issue 15) the head trained at learning_rate like the backbone
    "length_features": {},  # (issue 15) the Siamese head read only the pooled vectors
    # (issue 11, llm family) read only by lmsys/llm; files of the other families, written before these, never used them
    "lora_rank": 16, "lora_targets": [], "prompt_tokens": 256, "predict_sequence_length": 2048,
    "gradient_accumulation": 1, "tiny_llm": {}, "quantize": "",
    "model_parallel": 1,  # (issue 12 wiring, llm family) the base was never split: one copy per device
}

# Allowed values of the text settings, checked before a run touches anything.
CHOICES = {
    "precision": ("auto", "float32", "mixed_float16", "mixed_bfloat16"),
    "attention": ("fast", "keras_hub"),
    "attention_kernel": ("", "xla", "cudnn"),
    "turns": ("all", "first"),
}


def coerce(key: str, raw):
    """A configuration value from text (a flag or KEY=VALUE), typed by the Config field it sets."""
    fields = {f.name: f for f in dataclasses.fields(Config)}
    if key not in fields:
        raise ValueError(f"unknown configuration key {key!r}; known: {', '.join(sorted(fields))}")
    if not isinstance(raw, str):
        return raw
    default = getattr(Config(), key)
    text = raw.strip()
    try:
        if isinstance(default, bool):
            return parse_bool(raw)
        if isinstance(default, int):
            try:
                return int(text)
            except ValueError:
                raise ValueError(f"expected an integer, got {raw!r}") from None
        if isinstance(default, float):
            try:
                value = float(text)
            except ValueError:
                raise ValueError(f"expected a number, got {raw!r}") from None
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError(f"expected a finite number, got {raw!r}")
            return value
        if isinstance(default, (list, dict)):
            try:
                value = json.loads(raw)
            except (json.JSONDecodeError, RecursionError):
                raise ValueError(f"expected a JSON {type(default).__name__}, got {raw!r}") from None
            if not isinstance(value, type(default)):
                raise ValueError(f"expected a JSON {type(default).__name__}")
            return value
    except ValueError as err:
        raise ValueError(f"{key}: {err}") from None
    return raw


def check_values(config: "Config", flags=()) -> None:
    """Raise ValueError naming the first setting no run could use (`flags`: keys given as --flags, named so)."""
    def name(key):
        return f"--{key.replace('_', '-')}" if key in flags else key

    for key, allowed in CHOICES.items():
        value = getattr(config, key)
        if value not in allowed:
            raise ValueError(f"{name(key)}: expected one of {', '.join(repr(a) for a in allowed)}, got {value!r}")
    for key in ("epochs", "batch_size", "sequence_length"):
        value = getattr(config, key)
        if type(value) is not int or value < 1:
            raise ValueError(f"{name(key)}: expected an integer of at least 1, got {value!r}")
    for key in ("learning_rate",):
        if not getattr(config, key) > 0:
            raise ValueError(f"{name(key)}: expected a positive number, got {getattr(config, key)!r}")
    if not 0 < config.val_fraction < 1:
        raise ValueError(f"{name('val_fraction')}: expected a fraction between 0 and 1, got {config.val_fraction!r}")
    try:
        check_length_features(config.length_features)
    except ValueError as err:
        raise ValueError(f"{name('length_features')}{str(err)[len('length_features'):]}") from None
    if not config.buckets or any(type(b) is not int or b < 1 for b in config.buckets):
        raise ValueError(f"{name('buckets')}: expected a list of positive integers, got {config.buckets!r}")


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
    config_version: int = CONFIG_VERSION  # which version of this object wrote the file (see ADDED_LATER)
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
    # each option's response length beside its pooled vector, NAME: [center, scale] (lmsys.siamese.lengths); {}: none
    length_features: dict = field(default_factory=lambda: {k: list(v) for k, v in LENGTH_FEATURES.items()})
    attention: str = "fast"  # "fast" (lmsys.siamese.attention: same weights and outputs, no L x L gathers) or "keras_hub"
    attention_dropout: bool = True  # fast only: False skips dropout on attention probabilities for the fused kernel
    attention_kernel: str = ""  # fast only: "" lets JAX choose (XLA), "cudnn" asks for cuDNN flash attention
    precision: str = "auto"  # auto | float32 | mixed_float16 | mixed_bfloat16
    tiny_backbone: dict = field(default_factory=lambda: dict(TINY_BACKBONE))
    # training
    epochs: int = 3
    batch_size: int = 16
    learning_rate: float = 5e-6
    head_learning_rate: float = 1e-3  # peak rate of the new head (zero kernel, prior bias), same schedule; 0: learning_rate
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
    # llm family (lmsys/llm; its defaults, the tiny ones included, are in lmsys/llm/presets.py)
    lora_rank: int = 16  # 0: no LoRA (a merged export)
    lora_targets: list = field(default_factory=list)  # layer names; empty: every attention and MLP projection
    prompt_tokens: int = 256  # the prompts' share of the token budget, taken first
    predict_sequence_length: int = 2048  # token budget per row at prediction (sequence_length is training's)
    gradient_accumulation: int = 1  # optimizer steps accumulate this many batches
    tiny_llm: dict = field(default_factory=dict)  # the tiny Gemma-2-shaped backbone (lmsys.llm.presets.TINY_LLM)
    quantize: str = ""  # "", "int8" or "int4": a quantized export (lmsys.llm.export)
    model_parallel: str = "auto"  # llm: devices each base weight is split over; "auto": the memory plan's choice

    def replace(self, **changes) -> "Config":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict, source: str = "config", complete: bool = False) -> "Config":
        """`complete`: `values` is a whole saved file, so a missing key (other than ADDED_LATER's) is an error."""
        if not isinstance(values, dict):
            raise ValueError(f"{source}: holds a JSON {type(values).__name__}, expected a JSON object of settings; "
                             "retrain the model (`invoke train`), or re-download the model dataset")
        values = dict(values)
        for key, only in RETIRED_KEYS.items():  # keys older files hold, with the one value the code still does
            if key in values and (value := values.pop(key)) != only:
                raise ValueError(f"{source}: {key}={value!r} is no longer supported (only {only!r})")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{source}: unknown configuration key(s) {unknown}")
        if complete:
            missing = sorted(known - set(values) - set(ADDED_LATER))
            if missing:
                raise ValueError(f"{source}: missing configuration key(s) {missing}; it was not written by "
                                 "`invoke train` (or was cut short): retrain the model, or re-download the model "
                                 "dataset")
            values = {**{k: v for k, v in ADDED_LATER.items() if k not in values}, **values}
            if type(values["config_version"]) is not int or values["config_version"] > CONFIG_VERSION:
                raise ValueError(f"{source}: config_version {values['config_version']!r} is newer than this code "
                                 f"reads ({CONFIG_VERSION}); update the lmsys code")
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
        try:
            with open(path, encoding="utf-8") as fh:
                values = json.load(fh)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
            raise ValueError(f"{path}: not valid JSON ({exc}); the file is corrupt or truncated: retrain the "
                             "model, or re-download the model dataset") from None
        return cls.from_dict(values, source=path, complete=True)
