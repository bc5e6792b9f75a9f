"""The LLM family on Kaggle hardware: prediction under a time budget (rows re-cut to their own token budget,
TTA only where kept), non-finite batches re-run in float32 and counted, the memory plan before the base
loads, model parallel on 2 forced CPU devices."""

import itertools
import json
import re
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import run_script

from fake_kaggle import fake_kaggle  # noqa: F401 (fixture)
from tests.llm_helpers import small_config, small_sample


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny LLM directory (48 rows, 1 epoch) and 20 rows to predict."""
    from lmsys.data import load_competition_csv
    from lmsys.llm import train_model

    root = tmp_path_factory.mktemp("llmk")
    csv = small_sample(root / "data", rows=48)
    train_model(small_config(batch_size=8), csv, root / "model", verbose=0)
    return root / "model", load_competition_csv(csv).iloc[:20].reset_index(drop=True)


@pytest.fixture(scope="module")
def loaded(trained):
    from lmsys.llm.predict import load_classifier

    model_dir, df = trained
    config, model, tokenizer = load_classifier(model_dir)
    return config, model, tokenizer, df


def fake_clock(step):
    ticks = itertools.count()
    return lambda: next(ticks) * step


def test_prediction_prints_the_memory_plan_and_fills_the_report(trained, capsys):
    from lmsys import models

    model_dir, df = trained
    report = {}
    probs = models.predict_proba(model_dir, df, verbose=0, report=report)
    out = capsys.readouterr().out
    assert any(line.startswith("memory plan: gemma") for line in out.splitlines()), out
    assert probs.shape == (len(df), 3) and np.allclose(probs.sum(1), 1)
    assert report == {"nonfinite_reruns": 0, "rows_with_tta": len(df), "token_budget": 128}


def test_an_ample_budget_gives_the_plain_prediction_and_a_tiny_one_degrades_every_step(loaded):
    from lmsys.evaluate.time_budget import TimeBudget
    from lmsys.llm.predict import predict_loaded, predict_within_budget

    config, model, tokenizer, df = loaded
    reference = predict_loaded(model, tokenizer, config, df, tta=True)
    ample = TimeBudget(1e6, clock=fake_clock(1.0), margin_s=0)
    probs, report = predict_within_budget(model, tokenizer, config, df, ample, tta=True, rows=4)
    np.testing.assert_allclose(probs, reference, atol=1e-5)
    assert report["degradations"] == [] and report["rows_with_tta"] == len(df)

    # Each clock read is 1 s, so each batch takes 1 s: the 4 batches left after the first do not fit in 6 s.
    tight = TimeBudget(6, clock=fake_clock(1.0), margin_s=0, floor=64, measure_batches=1)
    probs, report = predict_within_budget(model, tokenizer, config, df, tight, tta=True, rows=4)
    steps = [d["what"] for d in report["degradations"]]
    assert "drop_tta" in steps and "token_budget" in steps, steps
    assert report["rows_with_tta"] < len(df) and report["min_token_budget"] == tight.floor < config.predict_sequence_length
    assert probs.shape == (len(df), 3) and np.isfinite(probs).all() and np.allclose(probs.sum(1), 1)
    assert tight.floor > 64  # raised to the shortest judge sequence the template can build
    plan = tight.row_plan
    kept = ~plan.skip & plan.use_tta & (plan.token_budget == config.predict_sequence_length)
    assert kept.any()
    np.testing.assert_allclose(probs[kept], reference[kept], atol=1e-5)  # undegraded rows: as without a budget
    cut = ~plan.skip & (plan.token_budget < np.minimum(plan.lengths, config.predict_sequence_length))
    assert cut.any() and not np.allclose(probs[cut], reference[cut], atol=1e-6)  # re-cut rows really were re-cut
    np.testing.assert_allclose(probs[plan.skip], 1 / 3)


def test_a_non_finite_batch_is_rerun_in_float32_and_counted(loaded, monkeypatch):
    import lmsys.llm.predict as llm_predict

    config, model, tokenizer, df = loaded
    reference = llm_predict.predict_loaded(model, tokenizer, config, df, tta=True)

    class FirstBatchOverflows:
        calls = 0

        def predict_on_batch(self, batch):
            FirstBatchOverflows.calls += 1
            out = np.asarray(model.predict_on_batch(batch))
            return np.full_like(out, np.nan) if FirstBatchOverflows.calls == 1 else out

    built = []
    monkeypatch.setattr(llm_predict, "load_classifier", lambda *a, **k: built.append(k) or (config, model, tokenizer))
    report = {}
    rerun = llm_predict.float32_rerun("unused", config, report)
    probs = llm_predict.predict_loaded(FirstBatchOverflows(), tokenizer, config, df, tta=True, rerun=rerun)
    np.testing.assert_allclose(probs, reference, atol=1e-6)
    assert report["nonfinite_reruns"] == 1 and built == [{"policy": "float32"}]
    with pytest.raises(FloatingPointError, match="already runs in float32"):
        FirstBatchOverflows.calls = 0
        llm_predict.predict_loaded(FirstBatchOverflows(), tokenizer, config, df, tta=True, rerun=llm_predict.no_rerun)


def test_a_base_that_cannot_fit_is_refused_before_the_output_directory_is_touched(tmp_path, monkeypatch):
    """A Gemma-2-9B preset directory (config only) in float32 on one T4: the plan's one line, nothing written."""
    import lmsys.devices.memory_plan as memory_plan
    from lmsys.devices.memory_plan import PlanError
    from lmsys.llm import train_model
    from lmsys.llm.presets import GEMMA2_9B

    preset = tmp_path / "gemma2_9b_en"
    preset.mkdir()
    (preset / "config.json").write_text(json.dumps({"module": "keras_hub.src.models.gemma.gemma_backbone",
                                                    "class_name": "GemmaBackbone", "config": GEMMA2_9B}))
    (preset / "metadata.json").write_text("{}")
    monkeypatch.setattr(memory_plan, "local_devices", lambda: memory_plan.devices_from_spec("1xT4"))
    csv = small_sample(tmp_path / "data", rows=24)
    with pytest.raises(PlanError, match=r"^gemma 9.2B does not fit on 1 x T4 .*would fit: quantize=int8") as err:
        train_model(small_config(str(preset), lora_targets=["query"]), csv, tmp_path / "out", verbose=0)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "out").exists()


MODEL_PARALLEL = r"""
import json, shutil, sys
import numpy as np
import jax
from lmsys import models
from lmsys.config import Config
from lmsys.data import load_competition_csv
from lmsys.llm import train_model
from tests.llm_helpers import small_config

assert jax.local_device_count() == 2, jax.devices()
trained_dir, csv, work = sys.argv[1:4]
df = load_competition_csv(csv).iloc[:20].reset_index(drop=True)
copy = work + "/copy"
shutil.copytree(trained_dir, copy)
Config.load(copy).replace(model_parallel="2").save(copy)
result = {"copy": models.predict_proba(copy, df, verbose=0).tolist()}
metrics = train_model(small_config(batch_size=8, model_parallel="2"), csv, work + "/mp2", verbose=0)
result["mp2"] = models.predict_proba(work + "/mp2", df, verbose=0).tolist()
result["mp2_val"] = metrics["val_log_loss"]
print("RESULT " + json.dumps(result))
"""


@pytest.mark.slow  # a subprocess on 2 forced CPU devices: one prediction and one short training (about 60 s)
def test_model_parallel_2_trains_and_predicts_like_one_device(trained, tmp_path):
    from lmsys import models

    model_dir, df = trained
    csv = str(model_dir.parent / "data" / "train.csv")
    one = models.predict_proba(model_dir, df, verbose=0)
    r = run_script(MODEL_PARALLEL, model_dir, csv, tmp_path, devices=2,
                   expect="devices: model parallel: 2 device(s) per copy")
    np.testing.assert_allclose(np.array(r["copy"]), one, atol=1e-4)  # trained on one device, split over two
    # Trained under model parallel from the same data and seed: the same model as the one-device run.
    np.testing.assert_allclose(np.array(r["mp2"]), one, atol=1e-4)


@pytest.fixture
def preset_based(trained, tmp_path):
    """The tiny LLM directory as a pretrained one is: no base/ inside, its config naming a Kaggle Model path
    that does not exist here; the base moved to an input folder laid out as a Kaggle Model mount."""
    import shutil

    from lmsys.config import Config

    model_dir, df = trained
    model = tmp_path / "input" / "lmsys-arena-model"
    shutil.copytree(model_dir, model)
    mount = tmp_path / "input" / "gemma2" / "keras" / "tiny_base" / "1"
    mount.parent.mkdir(parents=True)
    shutil.move(str(model / "base"), str(mount))
    Config.load(model).replace(preset="/kaggle/input/gemma2/keras/tiny_base/1").save(model)
    return model, mount, df


def test_push_model_of_a_preset_based_llm_uploads_config_adapter_and_head_only(preset_based, fake_kaggle):
    import io
    import zipfile

    from fake_kaggle import FAKE_USER
    from lmsys.kaggle import workflows

    model, _, _ = preset_based
    workflows.push_model(model, wait_s=0)
    files = fake_kaggle.datasets[f"{FAKE_USER}/lmsys-arena-model"][0]["files"]
    names = []
    for name, data in files.items():
        if name.endswith(".zip"):
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names += [f"{name[:-4]}/{m}" for m in archive.namelist() if not m.endswith("/")]
        else:
            names.append(name)
    assert "config.json" in names
    assert any(n.endswith("adapter.npz") for n in names) and any(n.endswith("head.npz") for n in names)
    assert not any(n.startswith(("base/", "checkpoint")) or n.endswith((".weights.h5", ".spm")) for n in names), names


def test_inference_kernel_finds_the_llm_base_attached_under_another_path(preset_based, tmp_path, capsys):
    import pandas as pd

    from lmsys.config import Config
    from lmsys.evaluate.submission import validate_file
    from lmsys.kaggle.kernel_main import run_infer

    model, mount, _ = preset_based
    competition = tmp_path / "input" / "lmsys-chatbot-arena"
    competition.mkdir()
    small_sample(tmp_path / "sample", rows=8)
    pd.read_csv(tmp_path / "sample" / "test.csv").head(6).to_csv(competition / "test.csv", index=False)
    out = run_infer(tmp_path / "input", tmp_path / "working", allow_cpu=True)
    log = capsys.readouterr().out
    assert f"using the attached preset {mount}" in log and "memory plan: gemma" in log
    sub = validate_file(out, competition / "test.csv")
    assert len(sub) == 6
    assert Config.load(model).preset == "/kaggle/input/gemma2/keras/tiny_base/1"  # the attached copy is untouched


def test_a_missing_llm_base_is_one_error_naming_the_flag(preset_based, tmp_path):
    import shutil

    from lmsys.kaggle.kernel_inputs import KernelInputError, with_llm_base

    model, mount, _ = preset_based
    shutil.rmtree(mount)
    with pytest.raises(KernelInputError, match=r"does not exist here and no keras-hub preset .*--base-source"):
        with_llm_base(model, tmp_path / "input", tmp_path / "work")


def test_submit_and_push_kernel_attach_the_llm_base_as_a_model_source(fake_kaggle):
    from fake_kaggle import FAKE_USER
    from lmsys.kaggle import workflows

    base = "keras/gemma2/keras/gemma2_9b_en/2"
    fake_kaggle.kernel_statuses = ["QUEUED", "RUNNING", "COMPLETE"]
    workflows.submit(message="llm", poll_s=0.01, kernel_timeout_s=30, score_timeout_s=30, base_source=base)
    assert fake_kaggle.requests_for("SaveKernel")[0]["modelDataSources"] == [base]

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    invoke = os.path.join(os.path.dirname(sys.executable), "invoke")
    proc = subprocess.run([invoke, "push-kernel", "--base-source", base], cwd=repo, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    sent = fake_kaggle.requests_for("SaveKernel")[1]
    assert sent["slug"] == f"{FAKE_USER}/lmsys-arena-infer" and sent["modelDataSources"] == [base]
    proc = subprocess.run([invoke, "push-kernel", "--base-source", "gemma2_9b_en"], cwd=repo, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0 and "owner/model/framework/variation/version" in proc.stdout + proc.stderr


@pytest.mark.slow  # the training kernel's entry point on 60 rows, 1 epoch (about 30 s)
def test_training_kernel_trains_the_llm(tmp_path, capsys):
    import pandas as pd

    from lmsys.config import Config
    from lmsys.kaggle.kernel_main import main_train

    competition = tmp_path / "input" / "lmsys-chatbot-arena"
    competition.mkdir(parents=True)
    csv = small_sample(tmp_path / "sample", rows=60)
    pd.read_csv(csv).to_csv(competition / "train.csv", index=False)
    sets = [f"{k}={v}" for k, v in dict(epochs=1, sequence_length=128, predict_sequence_length=128, prompt_tokens=24,
                                        buckets="[128]", batch_size=8, lora_rank=4).items()]
    metrics = main_train(["--input", str(tmp_path / "input"), "--output", str(tmp_path / "working"), "--preset", "tiny",
                          "--accelerator", "cpu", "--model-type", "llm", "--allow-cpu",
                          *[a for s in sets for a in ("--set", s)]])
    log = capsys.readouterr().out
    assert "memory plan: gemma" in log
    model = tmp_path / "working" / "model"
    config = Config.load(model)
    assert config.model_type == "llm" and config.epochs == 1 and config.sequence_length == 128
    assert metrics["model_type"] == "llm" and metrics["train_rows"] + metrics["val_rows"] == 60
    assert np.isfinite(metrics["val_log_loss"]) and (model / "base" / "config.json").is_file()


def test_on_float16_devices_the_base_is_held_in_float16_and_planned_so(trained, capsys):
    from lmsys.config import Config
    from lmsys.llm.backbone import base_source
    from lmsys.llm.parallel import prepare_devices
    from lmsys.llm.predict import load_classifier, predict_dtype, predict_loaded

    model_dir, df = trained
    config = Config.load(model_dir)
    prepare_devices(base_source(model_dir, config), config, predict_dtype("mixed_float16"), batch=2, sequence_length=128)
    assert re.search(r"^memory plan: gemma [\d.]+M on 1 x cpu: float16, ", capsys.readouterr().out, re.M)
    _, half, tokenizer = load_classifier(model_dir, config, policy="mixed_float16")
    big = [v for v in half.backbone.weights if v.path.endswith(("/kernel", "/embeddings"))]
    assert big and {v.dtype for v in big} == {"float16"}, {v.path: v.dtype for v in big if v.dtype != "float16"}
    _, full, _ = load_classifier(model_dir, config, policy="float32")
    rows = df.iloc[:6]
    np.testing.assert_allclose(predict_loaded(half, tokenizer, config, rows, tta=False),
                               predict_loaded(full, tokenizer, config, rows, tta=False), atol=2e-2)
