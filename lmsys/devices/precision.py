"""Precision by device: bfloat16 where it is fast (TPU, Ampere and newer GPUs), float16 on T4/P100-class
GPUs, float32 on CPU. Any explicit setting wins."""

from __future__ import annotations

POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")
_FP16_GPUS = ("T4", "P100", "V100", "K80", "P4", "P40", "M60")


def policy_for_device(platform: str, device_kind: str) -> str:
    platform = platform.lower()
    if platform == "tpu":
        return "mixed_bfloat16"
    if platform in ("gpu", "cuda", "rocm"):
        kind = device_kind.upper()
        return "mixed_float16" if any(name in kind for name in _FP16_GPUS) else "mixed_bfloat16"
    return "float32"


def resolve_precision(setting: str = "auto") -> str:
    if setting in POLICIES:
        return setting
    if setting != "auto":
        raise ValueError(f"precision must be 'auto' or one of {POLICIES}, got {setting!r}")
    import jax

    device = jax.devices()[0]
    return policy_for_device(device.platform, getattr(device, "device_kind", ""))
