"""The LLM's weights in a model directory: only what training made. A best generation holds the LoRA
factors (adapter.npz, with adapter.json naming rank, targets and layers) and the head (head.npz);
the base comes from the preset the configuration names (or base/ for `tiny` and exports).
checkpoint/ holds the last epoch's LoRA + head + optimizer state for `--resume`.

keras-hub's own load_lora_weights silently loads only query/value when enable_lora was called with
other targets; here the saved rank, targets and layer list must match the configuration exactly.
"""

from __future__ import annotations

import json
import os

import numpy as np

from lmsys.atomic import atomic_path, write_json
from lmsys.run_dir import CHECKPOINT_DIR, STATE_FILE, _read_json, save_generation

ADAPTER_FILE = "adapter.npz"
ADAPTER_META = "adapter.json"
HEAD_FILE = "head.npz"
RESUME_WEIGHTS = "trainable.npz"
RESUME_OPTIMIZER = "optimizer.npz"


def _lora_arrays(backbone) -> dict:
    from lmsys.llm.model import lora_layers

    arrays = {}
    for i, layer in enumerate(lora_layers(backbone)):
        arrays[f"{i:04d}/{layer.name}/a"] = np.asarray(layer.lora_kernel_a.numpy())
        arrays[f"{i:04d}/{layer.name}/b"] = np.asarray(layer.lora_kernel_b.numpy())
    return arrays


def _savez(path, arrays: dict) -> None:
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def save_adapter(gen_dir, model, rank: int, targets) -> None:
    """LoRA factors (when any) and the head of `model` into gen_dir."""
    if rank > 0:
        arrays = _lora_arrays(model.backbone)
        _savez(os.path.join(gen_dir, ADAPTER_FILE), arrays)
        write_json(os.path.join(gen_dir, ADAPTER_META), {"rank": int(rank), "targets": sorted(targets),
                                                          "layers": sorted(k[:-2] for k in arrays if k.endswith("/a"))})
    _savez(os.path.join(gen_dir, HEAD_FILE), {f"w{i}": np.asarray(v) for i, v in enumerate(model.head.get_weights())})


def save_best(model_dir, model, config, epoch: int, extra: dict | None = None) -> str:
    return save_generation(model_dir, epoch, lambda gen: save_adapter(gen, model, config.lora_rank,
                                                                        config.lora_targets), extra)


def load_adapter(gen_dir, model, rank: int, targets) -> None:
    """Load LoRA + head into a model built with enable_lora(rank, targets); any mismatch is an error."""
    if rank > 0:
        meta_path = os.path.join(gen_dir, ADAPTER_META)
        if not os.path.exists(meta_path):
            raise FileNotFoundError(f"{meta_path}: missing; the configuration asks for LoRA rank {rank}")
        meta = _read_json(meta_path)
        if int(meta["rank"]) != int(rank) or sorted(meta["targets"]) != sorted(targets):
            raise ValueError(f"{gen_dir}: the LoRA weights have rank {meta['rank']} on {sorted(meta['targets'])}, "
                             f"but the configuration says lora_rank={rank}, lora_targets={sorted(targets)}; "
                             "they must match (keras-hub would silently load only part of them)")
        from lmsys.llm.model import lora_layers

        layers = lora_layers(model.backbone)
        with np.load(os.path.join(gen_dir, ADAPTER_FILE)) as data:
            expected = sorted(f"{i:04d}/{layer.name}" for i, layer in enumerate(layers))
            if sorted(meta["layers"]) != expected or len(data.files) != 2 * len(layers):
                raise ValueError(f"{gen_dir}: the LoRA weights cover {len(meta['layers'])} layers, the model built "
                                 f"from the configuration has {len(layers)}; is this the same base preset?")
            for i, layer in enumerate(layers):
                for name, var in (("a", layer.lora_kernel_a), ("b", layer.lora_kernel_b)):
                    value = data[f"{i:04d}/{layer.name}/{name}"]
                    if tuple(value.shape) != tuple(var.shape):
                        raise ValueError(f"{gen_dir}: LoRA {layer.name} ({i}) has shape {value.shape}, the model "
                                         f"{tuple(var.shape)}")
                    var.assign(value)
    elif os.path.exists(os.path.join(gen_dir, ADAPTER_FILE)):
        raise ValueError(f"{gen_dir}: holds LoRA weights but the configuration says lora_rank=0")
    with np.load(os.path.join(gen_dir, HEAD_FILE)) as data:
        model.head.set_weights([data[f"w{i}"] for i in range(len(data.files))])


# --- resume state -------------------------------------------------------------------------------

def save_resume_state(model_dir, model, state: dict) -> None:
    """LoRA + head + optimizer variables after an epoch; state.json (written last) says which epoch."""
    ckpt = os.path.join(model_dir, CHECKPOINT_DIR)
    os.makedirs(ckpt, exist_ok=True)
    tag = f"epoch-{state['epoch']}"
    _savez(os.path.join(ckpt, f"{tag}.{RESUME_WEIGHTS}"),
           {f"{i:04d}": np.asarray(v.numpy()) for i, v in enumerate(model.trainable_variables)})
    _savez(os.path.join(ckpt, f"{tag}.{RESUME_OPTIMIZER}"),
           {f"{i:04d}": np.asarray(v.numpy()) for i, v in enumerate(model.optimizer.variables)})
    write_json(os.path.join(ckpt, STATE_FILE), {**state, "files": tag})
    for old in os.listdir(ckpt):
        if old.startswith("epoch-") and not old.startswith(tag + "."):
            os.remove(os.path.join(ckpt, old))


def load_resume_state(model_dir) -> dict | None:
    path = os.path.join(model_dir, CHECKPOINT_DIR, STATE_FILE)
    return _read_json(path) if os.path.exists(path) else None


def restore_resume_weights(model_dir, model, state: dict) -> None:
    """Trainable variables and optimizer state as the interrupted run left them after state['epoch']."""
    ckpt = os.path.join(model_dir, CHECKPOINT_DIR)
    model.optimizer.build(model.trainable_variables)
    for suffix, variables in ((RESUME_WEIGHTS, model.trainable_variables), (RESUME_OPTIMIZER, model.optimizer.variables)):
        path = os.path.join(ckpt, f"{state['files']}.{suffix}")
        with np.load(path) as data:
            if len(data.files) != len(variables):
                raise ValueError(f"{path}: {len(data.files)} arrays for {len(variables)} variables; "
                                 "the run's configuration or base changed since it was saved")
            for i, var in enumerate(variables):
                var.assign(data[f"{i:04d}"])


def describe(gen_dir) -> dict:
    """adapter.json of a generation, for reports (empty for a merged export)."""
    path = os.path.join(gen_dir, ADAPTER_META)
    return json.load(open(path, encoding="utf-8")) if os.path.exists(path) else {}
