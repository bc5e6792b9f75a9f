"""dataset-metadata.json and kernel-metadata.json, generated and checked before any upload.

Kaggle rejects (or silently misreads) bad metadata only after an upload, so slugs, titles, the
owner and the accelerator are checked here first. The kernel metadata starts from the template
in KERNEL_TEMPLATES and gets the owner, slugs, sources and accelerator filled in.
"""

from __future__ import annotations

import json
import os
import re

from lmsys.atomic import write_json
from lmsys.kaggle import COMPETITION, KaggleError

DATASET_METADATA_FILE = "dataset-metadata.json"
KERNEL_METADATA_FILE = "kernel-metadata.json"
KERNEL_KINDS = ("infer", "train")
DEFAULT_CODE_SLUG = "lmsys-arena-code"
DEFAULT_MODEL_SLUG = "lmsys-arena-model"
DEFAULT_LICENSE = "CC0-1.0"
# The kernels' metadata and code travel inside the package, so push-kernel works from an installed lmsys too.
KERNEL_TEMPLATES = {
    "infer": {"id": "OWNER/lmsys-arena-infer", "title": "lmsys arena infer", "code_file": "infer.py",
              "language": "python", "kernel_type": "script", "is_private": True, "enable_gpu": True,
              "enable_tpu": False, "enable_internet": False, "dataset_sources": [], "competition_sources": [],
              "kernel_sources": [], "model_sources": [], "machine_shape": "NvidiaTeslaT4"},
    "train": {"id": "OWNER/lmsys-arena-train", "title": "lmsys arena train", "code_file": "train.py",
              "language": "python", "kernel_type": "script", "is_private": True, "enable_gpu": True,
              "enable_tpu": False, "enable_internet": True, "dataset_sources": [], "competition_sources": [],
              "kernel_sources": [], "model_sources": ["keras/deberta_v3/keras/deberta_v3_extra_small_en/3"],
              "machine_shape": "NvidiaTeslaT4"},
}
BOOTSTRAP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kernel_bootstrap.py")
CHECKOUT_KERNELS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(BOOTSTRAP))), "kernels")

# --accelerator -> (enable_gpu, enable_tpu, machine_shape). NvidiaTeslaT4 is Kaggle's "GPU T4 x2".
ACCELERATORS = {
    "none": (False, False, None),
    "cpu": (False, False, None),
    "gpu": (True, False, "NvidiaTeslaT4"),
    "t4": (True, False, "NvidiaTeslaT4"),
    "p100": (True, False, "NvidiaTeslaP100"),
    "tpu": (False, True, "TpuV5E8"),
}
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
_OWNER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


class MetadataError(KaggleError, ValueError):
    """Metadata Kaggle would reject; the message names the field and the rule."""


def check_slug(slug: str, what: str = "slug") -> str:
    if not isinstance(slug, str) or not 6 <= len(slug) <= 50:
        raise MetadataError(f"{what} {slug!r}: must be 6-50 characters (has {len(slug) if isinstance(slug, str) else 0})")
    if not _SLUG.match(slug):
        raise MetadataError(f"{what} {slug!r}: only lowercase letters, digits and inner hyphens are allowed")
    return slug


def check_title(title: str, what: str = "title") -> str:
    if not isinstance(title, str) or not 6 <= len(title.strip()) <= 50:
        raise MetadataError(f"{what} {title!r}: must be 6-50 characters")
    return title


def check_owner(owner: str) -> str:
    if not owner or not _OWNER.match(owner):
        raise MetadataError(f"owner {owner!r}: not a Kaggle user name")
    return owner


def title_for(slug: str) -> str:
    """A title that Kaggle slugifies back to `slug` (avoids the client's id/title mismatch warning)."""
    return slug.replace("-", " ")


def dataset_metadata(owner: str, slug: str, title: str | None = None, license_name: str = DEFAULT_LICENSE) -> dict:
    check_owner(owner)
    check_slug(slug, "dataset slug")
    title = check_title(title if title is not None else title_for(slug), "dataset title")
    return {"id": f"{owner}/{slug}", "title": title, "licenses": [{"name": license_name}]}


def write_dataset_metadata(folder, owner: str, slug: str, title: str | None = None) -> dict:
    meta = dataset_metadata(owner, slug, title)
    write_json(os.path.join(os.fspath(folder), DATASET_METADATA_FILE), meta)
    return meta


def load_kernel_template(kind: str) -> dict:
    if kind not in KERNEL_KINDS:
        raise MetadataError(f"kernel {kind!r}: expected one of {list(KERNEL_KINDS)}")
    return json.loads(json.dumps(KERNEL_TEMPLATES[kind]))  # a deep copy


def render_kernel(kind: str) -> str:
    """The kernel's one code file: the shared bootstrap with its kind filled in (the one source of truth
    for kernels/<kind>/<kind>.py and for what push-kernel uploads)."""
    if kind not in KERNEL_KINDS:
        raise MetadataError(f"kernel {kind!r}: expected one of {list(KERNEL_KINDS)}")
    with open(BOOTSTRAP, encoding="utf-8") as fh:
        return fh.read().replace("__KIND__", kind)


def write_checkout_kernels(kernels_dir: str = CHECKOUT_KERNELS_DIR) -> list[str]:
    """Rewrite kernels/<kind>/<kind>.py from the bootstrap (for running the kernels from a checkout)."""
    from lmsys.atomic import write_text

    paths = []
    for kind in KERNEL_KINDS:
        path = os.path.join(kernels_dir, kind, KERNEL_TEMPLATES[kind]["code_file"])
        write_text(path, render_kernel(kind))
        paths.append(path)
    return paths


def kernel_metadata(kind: str, owner: str, *, code_slug: str = DEFAULT_CODE_SLUG, model_slug: str = DEFAULT_MODEL_SLUG,
                    kernel_slug: str | None = None, accelerator: str | None = None,
                    preset_source: str | None = None, competition: str = COMPETITION) -> dict:
    """The template for `kind` with owner, slugs, sources and accelerator filled in, checked."""
    meta = load_kernel_template(kind)
    check_owner(owner)
    slug = check_slug(kernel_slug or meta["id"].split("/", 1)[1], "kernel slug")
    meta["id"] = f"{owner}/{slug}"
    meta["title"] = check_title(title_for(slug), "kernel title")
    sources = [f"{owner}/{check_slug(code_slug, 'code dataset slug')}"]
    if kind == "infer":
        sources.append(f"{owner}/{check_slug(model_slug, 'model dataset slug')}")
        meta["enable_internet"] = False  # code competitions run offline; the client's default is true
    meta["dataset_sources"] = sources
    meta["competition_sources"] = [check_slug(competition, "competition slug")]
    if preset_source is not None:
        if preset_source.count("/") != 4:
            raise MetadataError(f"preset source {preset_source!r}: expected owner/model/framework/variation/version")
        meta["model_sources"] = [preset_source]
    accelerator = (accelerator or ("gpu" if meta.get("enable_gpu") else "none")).lower()
    if accelerator not in ACCELERATORS:
        raise MetadataError(f"accelerator {accelerator!r}: expected one of {sorted(ACCELERATORS)}")
    if kind == "infer" and accelerator == "tpu":
        raise MetadataError("accelerator 'tpu': TPU notebooks cannot make code-competition submissions; "
                            "use gpu, p100 or none for the inference kernel")
    meta["enable_gpu"], meta["enable_tpu"], shape = ACCELERATORS[accelerator]
    if shape:
        meta["machine_shape"] = shape
    else:
        meta.pop("machine_shape", None)
    return meta
