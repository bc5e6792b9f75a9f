"""What a kernel prints and checks about where it runs, before it builds anything.

On Kaggle a GPU image whose JAX lost its CUDA plugin, or a kernel pushed without an accelerator, runs on CPU
without a word until the 9-hour limit. So both kernels first print what JAX sees, the precision policy, the
library versions and the version stamps of the code and model datasets; and on Kaggle
(KAGGLE_KERNEL_RUN_TYPE set) a model family that needs an accelerator stops at once when JAX has none,
unless allowed (--allow-cpu, LMSYS_ALLOW_CPU=1, or `invoke push-kernel/submit --allow-cpu`).
"""

from __future__ import annotations

import json
import os

from lmsys.kaggle import KaggleError

ACCELERATOR_PLATFORMS = ("gpu", "cuda", "rocm", "tpu")
LIBRARIES = (("jax", ("jax",)), ("jaxlib", ("jaxlib",)), ("keras", ("keras",)), ("keras-hub", ("keras-hub", "keras_hub")),
             ("tensorflow", ("tensorflow", "tensorflow-cpu", "tf-nightly")))


class AcceleratorMissingError(KaggleError):
    """On Kaggle, a model that needs a GPU/TPU, and JAX sees none."""


def on_kaggle(environ=None) -> bool:
    return bool((os.environ if environ is None else environ).get("KAGGLE_KERNEL_RUN_TYPE"))


def allow_cpu_default(environ=None) -> bool:
    value = (os.environ if environ is None else environ).get("LMSYS_ALLOW_CPU", "")
    return value.strip().lower() in ("1", "true", "yes", "on")


def library_versions() -> dict:
    """Installed versions from package metadata (in sys.path order, so wheels installed from the code dataset
    win), without importing TensorFlow for it."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for label, names in LIBRARIES:
        found[label] = "not installed"
        for name in names:
            try:
                found[label] = version(name)
                break
            except PackageNotFoundError:
                continue
    return found


def code_stamp() -> dict:
    """The code dataset's stamp (lmsys/code_stamp.json, written by push-code); in a checkout, its git commit."""
    import lmsys
    from lmsys.kaggle.workflows import CODE_STAMP_FILE, git_commit

    package = os.path.dirname(os.path.abspath(lmsys.__file__))
    try:
        with open(os.path.join(package, CODE_STAMP_FILE), encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return {"lmsys_version": lmsys.__version__, "git_commit": git_commit(os.path.dirname(package)),
                "pushed_at": None, "note": "no code_stamp.json: not pushed by push-code"}


def model_stamp(model_dir) -> dict:
    """The model's configuration hash, and the stamp push-model wrote (model_stamp.json) when there is one."""
    from lmsys.kaggle.workflows import MODEL_STAMP_FILE, config_hash

    stamp = {"config_sha256": config_hash(model_dir)}
    try:
        with open(os.path.join(model_dir, MODEL_STAMP_FILE), encoding="utf-8") as fh:
            pushed = json.load(fh)
        stamp["pushed"] = pushed
    except (OSError, ValueError):
        pass
    return stamp


def jax_devices() -> list:
    import jax

    return list(jax.devices())


def describe_environment(precision: str, model_dir=None) -> dict:
    """Print (and return) devices, precision policy, library versions and the dataset stamps."""
    from lmsys.devices.precision import resolve_precision

    devices = jax_devices()
    info = {"devices": [str(d) for d in devices], "platform": devices[0].platform if devices else "none",
            "precision": f"{resolve_precision(precision)} (config: {precision})",
            "versions": library_versions(), "code": code_stamp()}
    print(f"jax.devices(): {devices}")
    print(f"precision policy: {info['precision']}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()))
    code = info["code"]
    print(f"code dataset: lmsys {code.get('lmsys_version')}, git {code.get('git_commit')}"
          + (f", pushed {code['pushed_at']}" if code.get("pushed_at") else f" ({code.get('note', '')})"))
    if model_dir is not None:
        info["model"] = model_stamp(model_dir)
        pushed = info["model"].get("pushed", {}).get("config_sha256")
        note = "" if pushed is None else (" (as pushed)" if pushed == info["model"]["config_sha256"]
                                          else f" (NOT the pushed config {pushed})")
        print(f"model dataset: config {info['model']['config_sha256']}{note}")
    return info


def check_accelerator(model_type: str, allow_cpu: bool, environ=None) -> None:
    """On Kaggle, stop when `model_type` needs an accelerator and JAX sees only CPU, unless allow_cpu."""
    from lmsys.models import needs_accelerator

    if not on_kaggle(environ) or not needs_accelerator(model_type):
        return
    platforms = sorted({d.platform.lower() for d in jax_devices()})
    if any(p in ACCELERATOR_PLATFORMS for p in platforms):
        return
    if allow_cpu:
        print(f"WARNING: JAX sees no GPU/TPU (platforms {platforms}); running the {model_type!r} model on CPU "
              "because CPU was allowed: the full hidden test may not finish within Kaggle's 9 hours", flush=True)
        return
    raise AcceleratorMissingError(
        f"the {model_type!r} model needs a GPU or TPU, but JAX sees only {platforms} (jax.devices(): "
        f"{jax_devices()}). On CPU it would run into Kaggle's 9-hour limit. Turn on the kernel's accelerator "
        "(push with --accelerator gpu) and check that the image's JAX has its CUDA plugin (jax[cuda12]); "
        "to run on CPU anyway pass --allow-cpu (push-kernel/submit --allow-cpu, or LMSYS_ALLOW_CPU=1)")
