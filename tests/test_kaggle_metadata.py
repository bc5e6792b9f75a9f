"""Metadata is checked before anything is uploaded; kernels find their inputs by content."""

import json
import os
import zipfile

import pytest

from lmsys.config import Config
from lmsys.kaggle.kernel_inputs import KernelInputError, find_competition_dir, find_model_dir, find_preset_dir
from lmsys.kaggle.metadata import MetadataError, dataset_metadata, kernel_metadata


@pytest.mark.parametrize("slug", ["short", "x" * 51, "Upper-Case", "has_underscore", "-leading", "trailing-"])
def test_bad_dataset_slugs_are_rejected_naming_the_slug(slug):
    with pytest.raises(MetadataError, match="dataset slug"):
        dataset_metadata("someone", slug)


@pytest.mark.parametrize("title", ["tiny", "t" * 51])
def test_titles_outside_6_to_50_characters_are_rejected(title):
    with pytest.raises(MetadataError, match="6-50 characters"):
        dataset_metadata("someone", "lmsys-arena-code", title=title)


def test_dataset_metadata_has_owner_title_and_one_license():
    assert dataset_metadata("someone", "lmsys-arena-code") == {
        "id": "someone/lmsys-arena-code", "title": "lmsys arena code", "licenses": [{"name": "CC0-1.0"}]}


def test_infer_kernel_is_offline_and_refuses_tpu():
    meta = kernel_metadata("infer", "someone", accelerator="p100")
    assert meta["enable_internet"] is False and meta["machine_shape"] == "NvidiaTeslaP100"
    assert meta["id"] == "someone/lmsys-arena-infer" and meta["code_file"] == "infer.py"
    with pytest.raises(MetadataError, match="TPU"):
        kernel_metadata("infer", "someone", accelerator="tpu")


def test_cpu_accelerator_turns_gpu_and_tpu_off():
    meta = kernel_metadata("train", "someone", accelerator="none")
    assert (meta["enable_gpu"], meta["enable_tpu"]) == (False, False) and "machine_shape" not in meta


def test_unknown_accelerator_and_kernel_are_rejected():
    with pytest.raises(MetadataError, match="accelerator 'a100'"):
        kernel_metadata("train", "someone", accelerator="a100")
    with pytest.raises(MetadataError, match="kernel 'predict'"):
        kernel_metadata("predict", "someone")


def test_kernel_inputs_are_found_by_content_and_zipped_folders_extracted(tmp_path):
    inp = tmp_path / "input"
    comp = inp / "competitions" / "lmsys-chatbot-arena"
    comp.mkdir(parents=True)
    (comp / "test.csv").write_text("id,prompt,response_a,response_b\n")
    model = inp / "datasets" / "someone" / "lmsys-arena-model"
    model.mkdir(parents=True)
    Config().save(model)
    with zipfile.ZipFile(model / "best-e1.zip", "w") as archive:
        archive.writestr("preset/config.json", json.dumps({"class_name": "DebertaV3Backbone"}))
        archive.writestr("preset/metadata.json", "{}")
        archive.writestr("head.weights.npz", b"weights")
    assert find_competition_dir(inp) == str(comp)
    found = find_model_dir(inp, tmp_path / "work")
    assert (tmp_path / "work" / "model").samefile(found)
    with open(f"{found}/best-e1/head.weights.npz", "rb") as fh:
        assert fh.read() == b"weights"
    assert find_preset_dir(found).endswith("best-e1/preset")
    with pytest.raises(KernelInputError, match="attach the model dataset"):
        find_model_dir(comp, tmp_path / "work2")
    with pytest.raises(KernelInputError, match="no keras-hub preset"):
        find_preset_dir(inp / "competitions")


def test_checkout_kernels_are_the_rendered_bootstrap():
    """kernels/<kind>/<kind>.py are generated (`invoke kernels`); an edit there instead of the bootstrap fails here."""
    from lmsys.kaggle.metadata import CHECKOUT_KERNELS_DIR, KERNEL_KINDS, render_kernel

    for kind in KERNEL_KINDS:
        with open(os.path.join(CHECKOUT_KERNELS_DIR, kind, f"{kind}.py"), encoding="utf-8") as fh:
            assert fh.read() == render_kernel(kind)
        assert f'KIND = "{kind}"' in render_kernel(kind) and "__KIND__" not in render_kernel(kind)


def test_kernel_code_and_metadata_come_from_an_installed_package_without_a_checkout(tmp_path):
    """push-kernel needs no kernels/ folder beside the package: a copy of lmsys alone renders both kernels."""
    import shutil
    import subprocess
    import sys

    import lmsys

    site = tmp_path / "site-packages"
    shutil.copytree(os.path.dirname(lmsys.__file__), site / "lmsys", ignore=shutil.ignore_patterns("__pycache__"))
    code = ("import lmsys, sys; from lmsys.kaggle.metadata import kernel_metadata, render_kernel; "
            "assert lmsys.__file__.startswith(sys.argv[1]), lmsys.__file__; "
            "print(kernel_metadata('infer', 'someone')['id'], len(render_kernel('train')) > 1000)")
    proc = subprocess.run([sys.executable, "-c", code, str(site)], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(site)}, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["someone/lmsys-arena-infer", "True"]


def test_newer_kaggle_model_mounts_and_deeper_folders_are_found(tmp_path):
    """/kaggle/input/models/<owner>/<model>/<framework>/<variation>/<version> is 6 levels down on its own."""
    inp = tmp_path / "input"
    preset = inp / "models" / "keras" / "deberta_v3" / "keras" / "deberta_v3_extra_small_en" / "3"
    preset.mkdir(parents=True)
    (preset / "config.json").write_text(json.dumps({"class_name": "DebertaV3Backbone"}))
    (preset / "metadata.json").write_text("{}")
    assert find_preset_dir(inp) == str(preset)
    # an lmsys model directory one level below such a mount (a Kaggle Model made from a model directory)
    model = inp / "models" / "someone" / "lmsys-arena" / "keras" / "default" / "1" / "model"
    model.mkdir(parents=True)
    Config().save(model)
    assert find_model_dir(inp, tmp_path / "work") == str(model)
    comp = inp / "competitions" / "llm-classification-finetuning"
    comp.mkdir(parents=True)
    (comp / "test.csv").write_text("id,prompt,response_a,response_b\n")
    (inp / "other").mkdir()
    (inp / "other" / "test.csv").write_text("id,prompt,response_a,response_b\n")
    assert find_competition_dir(inp) == str(comp)  # the live competition's folder wins over another test.csv


def test_kernel_metadata_names_the_competition_given():
    assert kernel_metadata("infer", "someone", competition="llm-classification-finetuning")[
        "competition_sources"] == ["llm-classification-finetuning"]
    assert kernel_metadata("infer", "someone")["competition_sources"] == ["lmsys-chatbot-arena"]
    with pytest.raises(MetadataError, match="competition slug"):
        kernel_metadata("infer", "someone", competition="Bad Slug")
