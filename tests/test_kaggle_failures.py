"""Every Kaggle failure stops with a clear error: error replies, HTTP 500, exit-0 error texts,
kernels ending in ERROR or never finishing, bad downloads, missing credentials."""

import base64
import json
import os

import pytest

from fake_kaggle import FAKE_KEY, FAKE_USER, fake_kaggle  # noqa: F401 (fixture)
from lmsys.kaggle import KaggleError, workflows
from lmsys.kaggle.cli import KaggleCommandError, exit0_error
from lmsys.kaggle.credentials import MissingCredentialsError, find_credentials
from test_kaggle_flows import competition_files, make_model_dir


def test_kernel_push_error_text_with_exit_0_is_raised_with_the_clients_message(fake_kaggle):
    fake_kaggle.replies["SaveKernel"] = {"error": "Notebook slug lmsys-arena-infer is owned by someone else"}
    with pytest.raises(KaggleCommandError, match="Kernel push error: Notebook slug lmsys-arena-infer is owned"):
        workflows.push_kernel("infer")


def test_dataset_creation_error_text_with_exit_0_is_raised(fake_kaggle, tmp_path):
    fake_kaggle.replies["CreateDataset"] = {"status": "Error", "error": "License CC0-1.0 not allowed here"}
    with pytest.raises(KaggleCommandError, match="Dataset creation error: License CC0-1.0 not allowed here"):
        workflows.push_model(make_model_dir(tmp_path))


def test_invalid_kernel_sources_reported_with_exit_0_are_an_error(fake_kaggle):
    fake_kaggle.replies["SaveKernel"] = {"versionNumber": 1, "invalidDatasetSources": ["fakeuser/lmsys-arena-model"]}
    with pytest.raises(KaggleCommandError, match="not valid dataset sources"):
        workflows.push_kernel("infer")


def test_an_error_reply_stops_with_the_servers_message(fake_kaggle):
    fake_kaggle.fail["CreateCodeSubmission"] = (403, {"code": 403, "message": "You must accept the competition rules"})
    with pytest.raises(KaggleError, match="You must accept the competition rules"):
        workflows.submit(poll_s=0.01, kernel_timeout_s=10, score_timeout_s=10)


def test_http_500_stops_with_the_status(fake_kaggle):
    fake_kaggle.fail["GetKernelSessionStatus"] = 500
    with pytest.raises(KaggleCommandError, match="500"):
        workflows.submit(poll_s=0.01, kernel_timeout_s=10, score_timeout_s=10)
    assert fake_kaggle.requests_for("CreateCodeSubmission") == []


def test_kernel_ending_in_error_is_not_submitted(fake_kaggle):
    fake_kaggle.kernel_statuses = ["RUNNING", "ERROR"]
    fake_kaggle.kernel_failure = "ModuleNotFoundError: No module named 'lmsys'"
    with pytest.raises(KaggleError, match=r"ended in ERROR: ModuleNotFoundError: No module named 'lmsys'"):
        workflows.submit(poll_s=0.01, kernel_timeout_s=10, score_timeout_s=10)
    assert fake_kaggle.requests_for("CreateCodeSubmission") == []


def test_kernel_that_never_finishes_times_out(fake_kaggle):
    fake_kaggle.kernel_statuses = ["RUNNING"]
    with pytest.raises(KaggleError, match=r"still RUNNING after .* \(timeout 1 s\)"):
        workflows.submit(poll_s=0.3, kernel_timeout_s=1, score_timeout_s=10)
    assert fake_kaggle.requests_for("CreateCodeSubmission") == []


def test_failed_scoring_is_an_error(fake_kaggle):
    fake_kaggle.submission_statuses = ["PENDING", "ERROR"]
    with pytest.raises(KaggleError, match="ended in ERROR"):
        workflows.submit(poll_s=0.01, kernel_timeout_s=10, score_timeout_s=10)


def test_download_missing_a_file_names_it_and_leaves_data_empty(fake_kaggle, tmp_path):
    files = competition_files()
    del files["sample_submission.csv"]
    fake_kaggle.set_competition_files(files)
    with pytest.raises(KaggleError, match="sample_submission.csv: missing"):
        workflows.download(tmp_path / "data")
    assert os.listdir(tmp_path / "data") == []


def test_download_with_wrong_columns_names_file_and_columns(fake_kaggle, tmp_path):
    files = competition_files()
    files["test.csv"] = "id,prompt,response_a\n1,a,b\n"
    fake_kaggle.set_competition_files(files)
    with pytest.raises(KaggleError, match=r"test.csv: columns are \['id', 'prompt', 'response_a'\]"):
        workflows.download(tmp_path / "data")


def test_missing_credentials_give_one_message_and_call_nothing(fake_kaggle, monkeypatch, tmp_path):
    monkeypatch.delenv("KAGGLE_USERNAME")
    monkeypatch.delenv("KAGGLE_KEY")
    with pytest.raises(MissingCredentialsError, match="KAGGLE_USERNAME=.*KAGGLE_KEY=") as err:
        workflows.push_model(make_model_dir(tmp_path))
    assert "kaggle.json" in str(err.value) and "KAGGLE_API_TOKEN" in str(err.value)
    assert fake_kaggle.calls == []


def test_kaggle_json_in_config_dir_is_what_the_client_uses(fake_kaggle, monkeypatch):
    monkeypatch.delenv("KAGGLE_USERNAME")
    monkeypatch.delenv("KAGGLE_KEY")
    path = os.path.join(os.environ["KAGGLE_CONFIG_DIR"], "kaggle.json")
    with open(path, "w") as fh:
        json.dump({"username": "jsonuser", "key": "json-key-123456"}, fh)
    os.chmod(path, 0o600)
    assert find_credentials().username == "jsonuser"
    ref, _ = workflows.push_kernel("infer")
    assert ref == "jsonuser/lmsys-arena-infer"
    assert fake_kaggle.auth_headers == ["Basic " + base64.b64encode(b"jsonuser:json-key-123456").decode()]


def test_the_key_never_appears_in_errors_or_output(fake_kaggle, capsys):
    fake_kaggle.replies["SaveKernel"] = {"error": f"bad request from {FAKE_USER}:{FAKE_KEY}"}
    with pytest.raises(KaggleCommandError) as err:
        workflows.push_kernel("infer")
    out = capsys.readouterr()
    assert FAKE_KEY not in str(err.value) and FAKE_KEY not in err.value.output
    assert FAKE_KEY not in out.out + out.err
    assert "***" in str(err.value)


def test_exit0_error_ignores_ordinary_output():
    assert exit0_error("Kernel version 3 successfully pushed.  Please check progress at https://x") is None
    assert exit0_error("Starting upload for file a.csv\nDataset version creation error: See previous output\n") == \
        "Dataset version creation error: See previous output"


def test_a_kaggle_command_that_hangs_is_stopped_at_its_timeout(fake_kaggle):
    from lmsys.kaggle.cli import run_kaggle

    with pytest.raises(KaggleCommandError, match="no answer within 0.05 s"):
        run_kaggle(["kernels", "status", f"{FAKE_USER}/lmsys-arena-infer"], timeout=0.05)


def test_access_token_without_a_user_name_asks_for_one(tmp_path):
    from lmsys.kaggle.credentials import Credentials

    env = {"HOME": str(tmp_path), "KAGGLE_CONFIG_DIR": str(tmp_path / "cfg"), "KAGGLE_API_TOKEN": "tok-123456"}
    with pytest.raises(MissingCredentialsError, match="export KAGGLE_USERNAME"):
        find_credentials(env)
    assert find_credentials({**env, "KAGGLE_USERNAME": "me"}) == Credentials("me", "KAGGLE_API_TOKEN")


def test_kaggle_json_without_a_key_names_the_file_and_field(tmp_path):
    (tmp_path / "kaggle.json").write_text('{"username": "me"}')
    with pytest.raises(MissingCredentialsError, match=r"kaggle.json: no 'key' in kaggle.json"):
        find_credentials({"HOME": str(tmp_path), "KAGGLE_CONFIG_DIR": str(tmp_path)})
