"""What a kernel finds under its input directory: competition files, the model, the preset.

Kaggle mounts attachments under /kaggle/input, and where exactly (/kaggle/input/<slug>,
/kaggle/input/datasets/<owner>/<slug>, ...) has changed over time, so everything is found by
content, not by path. A folder uploaded with `--dir-mode zip` may arrive as a .zip: such a model
directory is copied to a writable place and its archives are extracted there.
"""

from __future__ import annotations

import json
import os
import shutil

from lmsys.config import CONFIG_FILE
from lmsys.kaggle import COMPETITIONS, KaggleError, safe_extract
from lmsys.run_dir import is_lmsys_config

# /kaggle/input/models/<owner>/<model>/<framework>/<variation>/<version> (newer Kaggle Model mounts) is 6 levels
# down on its own; leave room below it.
MAX_DEPTH = 10


class KernelInputError(KaggleError):
    """Something the kernel needs is not attached; the message says what and where it looked."""


def _walk(root, max_depth=MAX_DEPTH):
    root = os.path.abspath(root)
    base = root.rstrip(os.sep).count(os.sep)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames.sort()
        if dirpath.count(os.sep) - base >= max_depth:
            dirnames[:] = []
        yield dirpath, dirnames, filenames


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def find_competition_dir(input_dir, needs: str = "test.csv") -> str:
    """The directory holding the competition's `needs` file (the competition's own folder first)."""
    candidates = []
    for dirpath, _, filenames in _walk(input_dir):
        if needs in filenames:
            candidates.append(dirpath)
    if not candidates:
        raise KernelInputError(f"{input_dir}: no {needs} found; attach the competition "
                               f"({' or '.join(repr(c) for c in COMPETITIONS)})")
    candidates.sort(key=lambda d: (os.path.basename(d) not in COMPETITIONS, d))
    return candidates[0]


def is_model_dir(path) -> bool:
    """An lmsys model directory: config.json written by lmsys.config.Config (has model_type)."""
    return is_lmsys_config(os.path.join(path, CONFIG_FILE))


def is_preset_dir(path) -> bool:
    """A keras-hub preset directory (save_to_preset): config.json naming a class, plus metadata.json."""
    values = _read_json(os.path.join(path, "config.json"))
    return isinstance(values, dict) and "class_name" in values and os.path.isfile(os.path.join(path, "metadata.json"))


def _extract_zips(model_dir, work_dir) -> str:
    """Copy `model_dir` into work_dir and extract any X.zip lacking an X/ folder; return the copy."""
    zips = [f for f in sorted(os.listdir(model_dir))
            if f.endswith(".zip") and not os.path.isdir(os.path.join(model_dir, f[:-4]))]
    if not zips:
        return model_dir
    target = os.path.join(work_dir, "model")
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(model_dir, target, ignore=shutil.ignore_patterns("*.zip"))
    for name in zips:
        safe_extract(os.path.join(model_dir, name), os.path.join(target, name[:-4]), KernelInputError)
    return target


def find_model_dir(input_dir, work_dir) -> str:
    """The attached lmsys model directory (zips extracted into work_dir when needed)."""
    found = [d for d, _, files in _walk(input_dir) if CONFIG_FILE in files and is_model_dir(d)]
    if not found:
        raise KernelInputError(f"{input_dir}: no lmsys model directory (config.json with model_type) found; "
                               "attach the model dataset made by `invoke push-model`")
    if len(found) > 1:
        print(f"several model directories attached, using {found[0]} (others: {found[1:]})")
    return _extract_zips(found[0], work_dir)


def find_preset_dir(input_dir) -> str:
    """The attached keras-hub preset (a Kaggle Model such as deberta_v3_extra_small_en)."""
    for dirpath, _, filenames in _walk(input_dir):
        if "config.json" in filenames and is_preset_dir(dirpath):
            return dirpath
    raise KernelInputError(f"{input_dir}: no keras-hub preset (config.json + metadata.json) found; attach a "
                           "Kaggle Model such as keras/deberta_v3/keras/deberta_v3_extra_small_en/3, or pass --preset")


def _last_name(path: str) -> str:
    """The last part of a preset path that is not a version number (.../gemma2_9b_en/2 -> gemma2_9b_en)."""
    parts = [p for p in os.path.normpath(os.fspath(path)).split(os.sep) if p and not p.isdigit()]
    return parts[-1] if parts else ""


def _is_decoder_class(name) -> bool:
    """A keras-hub backbone class that has a causal LM (GemmaBackbone: GemmaCausalLM; DebertaV3Backbone: none)."""
    import keras_hub

    name = str(name or "").split(">")[-1]
    return name.endswith("Backbone") and hasattr(keras_hub.models, name[:-len("Backbone")] + "CausalLM")


def find_llm_base(preset: str, input_dir) -> str:
    """The attached keras-hub preset an LLM model directory's base is, when the path its config.json names
    does not exist here (trained elsewhere, mounted at another path): the attached presets are searched by
    content; one whose path holds the configured preset's name wins, else the only decoder one."""
    found = []
    for dirpath, _, filenames in _walk(input_dir):
        if "config.json" in filenames and is_preset_dir(dirpath) and not is_model_dir(dirpath):
            found.append(dirpath)
    decoders = [d for d in found if _is_decoder_class(_read_json(os.path.join(d, "config.json")).get("class_name"))]
    named = [d for d in decoders if _last_name(preset) and _last_name(preset) in d.split(os.sep)]
    if len(named) == 1 or (not named and len(decoders) == 1):
        return (named or decoders)[0]
    raise KernelInputError(
        f"{input_dir}: " + (f"the model's base {preset!r} does not exist here and " if preset else "LLM base: ")
        + (f"several attached presets could be it ({', '.join(named or decoders)})" if (named or decoders)
           else "no keras-hub preset (config.json + metadata.json) is attached")
        + "; attach the base Kaggle Model (invoke push-kernel/submit --base-source owner/model/framework/variation/version)")


def with_llm_base(model_dir, input_dir, work_dir) -> str:
    """An LLM model directory whose base can be loaded here: unchanged when it holds base/ or its preset
    exists; else a copy in work_dir (LoRA + head are small) whose config names the attached preset found."""
    from lmsys.config import Config
    from lmsys.llm.backbone import base_source
    from lmsys.llm.presets import is_tiny

    config = Config.load(model_dir)
    source = base_source(model_dir, config)
    if is_tiny(source) or os.path.isfile(os.path.join(source, "config.json")):
        return model_dir
    if os.sep not in source and not source.startswith("."):
        return model_dir  # a keras-hub preset name: loads by name (needs internet) as configured
    preset = find_llm_base(source, input_dir)
    target = os.path.join(os.fspath(work_dir), "llm-model")
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(model_dir, target, ignore=shutil.ignore_patterns("checkpoint"))
    config.replace(preset=preset).save(target)
    print(f"llm base: {source} is not here; using the attached preset {preset}", flush=True)
    return target
