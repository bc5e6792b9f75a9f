"""The Kaggle kernels run locally, laid out as Kaggle mounts them (code and model as uploaded)."""

import importlib
import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest

import lmsys
from lmsys.config import Config
from lmsys.kaggle.kernel_main import main_train, run_train
from lmsys.evaluate.submission import validate_file
from conftest import REAL_TEST_PATH, REAL_TRAIN_PATH

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN_SAMPLE = REAL_TRAIN_PATH
TEST_CSV = REAL_TEST_PATH


def kaggle_input(root, model_dir):
    """/kaggle/input as the push tasks leave it: lmsys.zip, model folders zipped, no resume checkpoint."""
    inp = root / "input"
    comp = inp / "lmsys-chatbot-arena"
    comp.mkdir(parents=True)
    shutil.copy(TEST_CSV, comp / "test.csv")
    code = inp / "lmsys-arena-code"
    code.mkdir()
    shutil.make_archive(str(code / "lmsys"), "zip", os.path.dirname(lmsys.__file__))
    model = inp / "lmsys-arena-model"
    model.mkdir()
    for name in os.listdir(model_dir):
        src = os.path.join(model_dir, name)
        if name == "checkpoint":
            continue
        if os.path.isdir(src):
            shutil.make_archive(str(model / name), "zip", src)
        else:
            shutil.copy(src, model / name)
    return inp


def make_wheel(folder, name="lmsys_probe", version="1.0"):
    """A real, minimal pure-Python wheel (module `name` with VERSION), as pip builds them."""
    import base64
    import hashlib
    import zipfile

    dist = f"{name}-{version}.dist-info"
    files = {f"{name}.py": f"VERSION = {version!r}\n",
             f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    files[f"{dist}/RECORD"] = "\n".join(record + [f"{dist}/RECORD,,"]) + "\n"
    path = os.path.join(folder, f"{name}-{version}-py3-none-any.whl")
    with zipfile.ZipFile(path, "w") as zf:
        for member, text in files.items():
            zf.writestr(member, text)
    return path


def _has(module, name):
    try:
        return hasattr(importlib.import_module(module), name)
    except ImportError:
        return False


def run_kernel(kind, *args, cwd):
    (cwd / "tmp").mkdir(exist_ok=True)
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": "", "TMPDIR": str(cwd / "tmp"),
           # any download attempt would fail: the kernels must work with internet off
           "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}
    proc = subprocess.run([sys.executable, os.path.join(REPO, "kernels", kind, f"{kind}.py"), *map(str, args)],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.slow
@pytest.mark.skipif(not (_has("lmsys.train", "train_model") and _has("lmsys.predict", "predict_file")),
                    reason="lmsys.train.train_model / lmsys.predict.predict_file not there yet")
def test_training_then_inference_kernel_write_a_valid_submission_offline(real_data, tmp_path):
    """Training kernel (tiny, 160 real rows) -> model dir; inference kernel (a subprocess) on it, laid out as
    uploaded -> a valid submission."""
    train_in = tmp_path / "train-input" / "lmsys-chatbot-arena"
    train_in.mkdir(parents=True)
    pd.read_csv(TRAIN_SAMPLE).head(160).to_csv(train_in / "train.csv", index=False)  # keeps it within seconds
    train_out = tmp_path / "train-working"
    # In-process (what kernels/train/train.py calls after the same bootstrap as infer.py): saves a
    # second TensorFlow/JAX start-up.
    metrics = main_train(["--input", str(train_in.parent), "--output", str(train_out), "--preset", "tiny",
                          "--accelerator", "cpu", "--set", "epochs=1", "--set", "sequence_length=64",
                          "--set", "batch_size=8"])
    assert metrics["epochs"] == 1 and Config.load(train_out / "model").sequence_length == 64

    inp, out = kaggle_input(tmp_path, train_out / "model"), tmp_path / "working"
    make_wheel(inp / "lmsys-arena-code")  # as `invoke push-code --wheels` attaches keras / keras-hub
    log = run_kernel("infer", "--input", inp, "--output", out, cwd=tmp_path)
    # imported from the attached zip (extracted to TMPDIR), not from the checkout
    assert f"lmsys code: {tmp_path / 'tmp' / 'lmsys-code' / 'lmsys'}" in log
    # the attached wheel was installed offline into a private folder, before lmsys was imported
    assert "installed from the code dataset: lmsys_probe-1.0-py3-none-any.whl" in log
    assert (tmp_path / "tmp" / "lmsys-wheels" / "lmsys_probe.py").read_text() == "VERSION = '1.0'\n"
    # nothing else lands in the kernel's output
    assert sorted(os.listdir(out)) == ["inference_report.json", "submission.csv"]
    sub = validate_file(out / "submission.csv", TEST_CSV)
    assert list(sub["id"]) == list(pd.read_csv(TEST_CSV)["id"])


@pytest.mark.slow
def test_attached_wheels_come_first_on_the_path_without_any_network(tmp_path):
    code = tmp_path / "input" / "lmsys-arena-code"
    code.mkdir(parents=True)
    shutil.copytree(os.path.dirname(lmsys.__file__), code / "lmsys")
    make_wheel(code, version="2.0")
    snippet = ("import runpy, sys; code_dir = runpy.run_path(sys.argv[1])['add_lmsys_to_path'](sys.argv[2]); "
               "from lmsys.kaggle.wheels import install_attached_wheels; install_attached_wheels(code_dir); "
               "assert 'keras' not in sys.modules; import lmsys, lmsys_probe; "
               "print(lmsys.__file__); print(lmsys_probe.VERSION, lmsys_probe.__file__)")
    env = {**os.environ, "PYTHONPATH": "", "TMPDIR": str(tmp_path), "PIP_NO_INDEX": "1",
           "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}
    proc = subprocess.run([sys.executable, "-c", snippet, os.path.join(REPO, "kernels", "infer", "infer.py"),
                           str(tmp_path / "input")], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines()[-2] == str(code / "lmsys" / "__init__.py")  # the attached code, not the checkout
    assert proc.stdout.splitlines()[-1] == f"2.0 {tmp_path / 'lmsys-wheels' / 'lmsys_probe.py'}"


def test_tpu_training_resolves_bfloat16_without_pinning_it_for_inference(real_data, monkeypatch, tmp_path):
    import lmsys.models
    from lmsys.devices.precision import policy_for_device

    seen = {}
    monkeypatch.setattr(lmsys.models, "train_model", lambda config, csv, out: seen.update(config=config) or {})
    comp = tmp_path / "input" / "lmsys-chatbot-arena"
    comp.mkdir(parents=True)
    shutil.copy(TRAIN_SAMPLE, comp / "train.csv")
    run_train(str(tmp_path / "input"), str(tmp_path / "out"), preset="tiny", accelerator="tpu",
              overrides={"epochs": 1})
    assert seen["config"].precision == "auto" and seen["config"].epochs == 1
    assert policy_for_device("tpu", "TPU v3") == "mixed_bfloat16"  # what "auto" resolves to there
    assert policy_for_device("gpu", "Tesla T4") == "mixed_float16"  # and at inference on a T4
