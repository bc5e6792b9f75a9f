"""The real `kaggle` client, run as a subprocess against the fake server (tests/fake_kaggle.py)."""

import hashlib
import json
import os


from fake_kaggle import FAKE_KEY, FAKE_USER, fake_kaggle  # noqa: F401 (fixture)
from lmsys.kaggle import workflows
from conftest import REAL_TEST_PATH

TRAIN_HEADER = "id,model_a,model_b,prompt,response_a,response_b,winner_model_a,winner_model_b,winner_tie\n"
TEST_CSV = REAL_TEST_PATH


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def competition_files():
    with open(TEST_CSV, encoding="utf-8") as fh:
        test = fh.read()
    return {"train.csv": TRAIN_HEADER + '1,m1,m2,"[""hi""]","[""a""]","[""b""]",1,0,0\n',
            "test.csv": test,
            "sample_submission.csv": "id,winner_model_a,winner_model_b,winner_tie\n136060,0.33,0.33,0.34\n"}


def make_model_dir(root):
    """A small directory shaped like a model dir: config.json, a weights file, a preset subfolder."""
    from lmsys.config import Config

    model = root / "model"
    (model / "preset" / "assets").mkdir(parents=True)
    Config(preset="tiny").save(model)
    (model / "classifier.weights.h5").write_bytes(os.urandom(3000))
    (model / "preset" / "config.json").write_text('{"class_name": "DebertaV3Backbone"}')
    (model / "preset" / "assets" / "vocab.spm").write_bytes(os.urandom(500))
    (model / "checkpoint").mkdir()
    (model / "checkpoint" / "epoch-1.weights.h5").write_bytes(b"optimizer state, not for inference")
    return model


def test_download_unzips_and_checks_competition_files(real_data, fake_kaggle, tmp_path):
    files = competition_files()
    fake_kaggle.set_competition_files(files)
    paths = workflows.download(tmp_path / "data")
    assert fake_kaggle.requests_for("DownloadDataFiles") == [{"competitionName": "lmsys-chatbot-arena"}]
    for name, content in files.items():
        with open(paths[name], encoding="utf-8") as fh:
            assert fh.read() == content
    assert sorted(os.listdir(tmp_path / "data")) == sorted(files)


def zip_members(data: bytes) -> dict:
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist() if not name.endswith("/")}


def test_push_model_creates_then_versions_with_the_exact_bytes(fake_kaggle, tmp_path):
    model = make_model_dir(tmp_path)
    assert workflows.push_model(model) == "created"
    ref = f"{FAKE_USER}/lmsys-arena-model"
    created = fake_kaggle.requests_for("CreateDataset")[0]
    assert (created["ownerSlug"], created["slug"], created["title"]) == (FAKE_USER, "lmsys-arena-model", "lmsys arena model")
    assert created["licenseName"] == "CC0-1.0" and created["isPrivate"] is True
    files = fake_kaggle.datasets[ref][0]["files"]
    assert set(files) == {"config.json", "classifier.weights.h5", "preset.zip", "model_stamp.json"}
    config = json.loads((model / "config.json").read_text())
    expected_hash = hashlib.sha256(json.dumps(config, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]
    assert json.loads(files["model_stamp.json"])["config_sha256"] == expected_hash
    assert files["config.json"] == (model / "config.json").read_bytes()
    assert files["classifier.weights.h5"] == (model / "classifier.weights.h5").read_bytes()
    assert zip_members(files["preset.zip"]) == {
        "config.json": (model / "preset" / "config.json").read_bytes(),
        "assets/vocab.spm": (model / "preset" / "assets" / "vocab.spm").read_bytes()}
    assert not (model / "dataset-metadata.json").exists()  # the model directory is left untouched

    (model / "classifier.weights.h5").write_bytes(b"retrained")
    assert workflows.push_model(model, notes="second") == "versioned"
    assert len(fake_kaggle.datasets[ref]) == 2
    version = fake_kaggle.datasets[ref][1]
    assert version["request"]["body"]["versionNotes"] == "second"
    assert version["files"]["classifier.weights.h5"] == b"retrained"
    assert len(fake_kaggle.requests_for("CreateDataset")) == 1


def test_push_code_uploads_the_lmsys_package_as_a_zip(fake_kaggle):
    import lmsys

    assert workflows.push_code() == "created"
    files = fake_kaggle.datasets[f"{FAKE_USER}/lmsys-arena-code"][0]["files"]
    assert set(files) == {"lmsys.zip"}
    members = zip_members(files["lmsys.zip"])
    package = os.path.dirname(lmsys.__file__)
    assert members["__init__.py"] == open(os.path.join(package, "__init__.py"), "rb").read()
    assert members["kaggle/workflows.py"] == open(os.path.join(package, "kaggle", "workflows.py"), "rb").read()
    assert not any("__pycache__" in name for name in members)


def test_push_code_with_wheels_uploads_them_beside_the_package(fake_kaggle, tmp_path):
    from test_kernels import make_wheel

    wheel = make_wheel(str(tmp_path))
    assert workflows.push_code(wheels=[wheel]) == "created"
    files = fake_kaggle.datasets[f"{FAKE_USER}/lmsys-arena-code"][0]["files"]
    assert set(files) == {"lmsys.zip", "lmsys_probe-1.0-py3-none-any.whl"}
    assert files["lmsys_probe-1.0-py3-none-any.whl"] == open(wheel, "rb").read()


def test_push_code_refuses_a_file_that_is_not_a_wheel_before_uploading(fake_kaggle, tmp_path):
    import pytest

    from lmsys.kaggle import KaggleError

    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(KaggleError, match="notes.txt: not a wheel file"):
        workflows.push_code(wheels=[str(tmp_path / "notes.txt")])
    assert fake_kaggle.requests_for("CreateDataset") == []


def test_push_infer_kernel_is_offline_with_code_model_and_competition_sources(fake_kaggle):
    ref, version = workflows.push_kernel("infer")
    assert (ref, version) == (f"{FAKE_USER}/lmsys-arena-infer", 1)
    sent = fake_kaggle.requests_for("SaveKernel")[0]
    assert sent["slug"] == ref and sent["newTitle"] == "lmsys arena infer"
    assert sent["enableInternet"] is False
    assert sent["enableGpu"] is True and sent["enableTpu"] is False and sent["machineShape"] == "NvidiaTeslaT4"
    assert sent["datasetDataSources"] == [f"{FAKE_USER}/lmsys-arena-code", f"{FAKE_USER}/lmsys-arena-model"]
    assert sent["competitionDataSources"] == ["lmsys-chatbot-arena"]
    with open(os.path.join(REPO, "kernels", "infer", "infer.py"), encoding="utf-8") as fh:
        assert sent["text"] == fh.read()  # the file tests/test_kernels.py runs end to end
    assert sent["language"] == "python" and sent["kernelType"] == "script"


def test_push_train_kernel_on_tpu_sets_tpu_metadata(fake_kaggle):
    ref, version = workflows.push_kernel("train", accelerator="tpu")
    sent = fake_kaggle.requests_for("SaveKernel")[0]
    assert sent["enableTpu"] is True and sent["enableGpu"] is False and sent["machineShape"] == "TpuV5E8"
    assert sent["modelDataSources"] == ["keras/deberta_v3/keras/deberta_v3_extra_small_en/3"]
    assert ref == f"{FAKE_USER}/lmsys-arena-train"


def test_submit_pushes_waits_submits_that_version_and_reports_the_score(fake_kaggle, capsys):
    fake_kaggle.kernels[f"{FAKE_USER}/lmsys-arena-infer"] = [{}, {}]  # two earlier versions
    fake_kaggle.kernel_statuses = ["QUEUED", "RUNNING", "COMPLETE"]
    result = workflows.submit(message="tiny model", poll_s=0.01, kernel_timeout_s=30, score_timeout_s=30)
    assert result["version"] == 3
    assert len(fake_kaggle.requests_for("GetKernelSessionStatus")) == 3
    sub = fake_kaggle.requests_for("CreateCodeSubmission")[0]
    assert sub == {"competitionName": "lmsys-chatbot-arena", "kernelOwner": FAKE_USER,
                   "kernelSlug": "lmsys-arena-infer", "kernelVersion": 3, "fileName": "submission.csv",
                   "submissionDescription": result["message"]}
    assert "public score: 0.98765" in capsys.readouterr().out
    # Order matters: the kernel is pushed, finished, and only then submitted.
    methods = fake_kaggle.methods()
    assert methods.index("SaveKernel") < methods.index("GetKernelSessionStatus") < methods.index("CreateCodeSubmission")


def run_invoke(*args):
    import subprocess
    import sys

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    invoke = os.path.join(os.path.dirname(sys.executable), "invoke")
    return subprocess.run([invoke, *args], cwd=repo, capture_output=True, text=True, timeout=120)


def test_invoke_push_kernel_task_reaches_the_server(fake_kaggle):
    proc = run_invoke("push-kernel", "--kernel", "train", "--accelerator", "tpu")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Kernel version 1 successfully pushed" in proc.stdout
    assert fake_kaggle.requests_for("SaveKernel")[0]["enableTpu"] is True


def test_invoke_task_without_credentials_prints_one_message_no_traceback(fake_kaggle, monkeypatch):
    monkeypatch.delenv("KAGGLE_USERNAME")
    monkeypatch.delenv("KAGGLE_KEY")
    proc = run_invoke("push-code")
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: No Kaggle credentials found") and "Traceback" not in proc.stderr
    assert fake_kaggle.calls == []
