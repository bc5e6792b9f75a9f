"""Issue 14 against the fake server: the live competition slug, a kernel status that lags one version,
kernel output checked before submitting, datasets that are still processing, version stamps."""

import json
import os
import subprocess

import pytest

from lmsys.kaggle.metadata import CHECKOUT_KERNELS_DIR

from fake_kaggle import FAKE_USER, fake_kaggle  # noqa: F401 (fixture)
from lmsys.kaggle import COMPETITION, LIVE_COMPETITION, KaggleError, workflows
from test_kaggle_flows import competition_files, make_model_dir, zip_members

INFER = f"{FAKE_USER}/lmsys-arena-infer"
FAST = dict(poll_s=0.01, kernel_timeout_s=30, score_timeout_s=30)


def test_live_competition_slug_reaches_download_kernel_sources_and_submit(fake_kaggle, tmp_path):
    fake_kaggle.set_competition_files(competition_files())
    workflows.download(tmp_path / "data", competition=LIVE_COMPETITION)
    assert fake_kaggle.requests_for("DownloadDataFiles") == [{"competitionName": LIVE_COMPETITION}]
    result = workflows.submit(competition=LIVE_COMPETITION, **FAST)
    assert fake_kaggle.requests_for("SaveKernel")[0]["competitionDataSources"] == [LIVE_COMPETITION]
    assert fake_kaggle.requests_for("CreateCodeSubmission")[0]["competitionName"] == LIVE_COMPETITION
    assert {r["competitionName"] for r in fake_kaggle.requests_for("ListSubmissions")} == {LIVE_COMPETITION}
    assert result["competition"] == LIVE_COMPETITION
    workflows.push_kernel("train")  # the default stays the original competition
    assert fake_kaggle.requests_for("SaveKernel")[-1]["competitionDataSources"] == [COMPETITION]


def test_submit_waits_out_a_status_that_still_reports_the_previous_version(fake_kaggle, capsys):
    fake_kaggle.kernels[INFER] = [{}, {}]  # versions 1 and 2 ran before
    fake_kaggle.kernel_status_lag = 2  # the first two polls still answer version 2's COMPLETE
    fake_kaggle.kernel_statuses = ["QUEUED", "RUNNING", "COMPLETE"]
    result = workflows.submit(**FAST)
    assert result["version"] == 3
    assert len(fake_kaggle.requests_for("GetKernelSessionStatus")) == 5  # 2 stale + queued, running, complete
    assert fake_kaggle.requests_for("CreateCodeSubmission")[0]["kernelVersion"] == 3
    methods = fake_kaggle.methods()
    last_status = len(methods) - 1 - methods[::-1].index("GetKernelSessionStatus")
    assert last_status < methods.index("ListKernelSessionOutput") < methods.index("CreateCodeSubmission")
    assert "can be the previous version's" in capsys.readouterr().out


def test_a_stale_error_of_the_previous_version_does_not_stop_the_new_one(fake_kaggle):
    fake_kaggle.kernels[INFER] = [{}]
    fake_kaggle.kernel_status_lag = 1
    fake_kaggle.previous_kernel_status = "ERROR"
    fake_kaggle.kernel_statuses = ["RUNNING", "COMPLETE"]
    assert workflows.submit(**FAST)["version"] == 2


def test_a_version_never_seen_queued_or_running_is_not_submitted(fake_kaggle):
    fake_kaggle.kernels[INFER] = [{}]
    fake_kaggle.kernel_status_lag = 1000  # the status never moves on from version 1's COMPLETE
    with pytest.raises(KaggleError, match=r"v2: never seen queued or running .* -v 2"):
        workflows.submit(start_timeout_s=0.5, **FAST)
    assert fake_kaggle.requests_for("CreateCodeSubmission") == []


def test_output_without_submission_csv_is_not_submitted(fake_kaggle):
    fake_kaggle.output_files = {"notes.txt": b"the kernel wrote no submission"}
    with pytest.raises(KaggleError, match=r"output holds no submission.csv \(found .*notes.txt"):
        workflows.submit(**FAST)
    assert fake_kaggle.requests_for("CreateCodeSubmission") == []


def test_output_of_an_earlier_push_is_not_submitted(fake_kaggle):
    fake_kaggle.output_files = {"submission.csv": b"id,winner_model_a,winner_model_b,winner_tie\n1,0.2,0.3,0.5\n",
                                "inference_report.json": json.dumps({"push_id": "20200101-000000-deadbeef"}).encode()}
    with pytest.raises(KaggleError, match="not this push's"):
        workflows.submit(**FAST)
    assert fake_kaggle.requests_for("CreateCodeSubmission") == []


def test_the_push_id_travels_in_the_pushed_script_only(fake_kaggle):
    result = workflows.submit(**FAST)
    text = fake_kaggle.requests_for("SaveKernel")[0]["text"]
    assert f"PUSH_SETTINGS = {{'push_id': '{result['push_id']}'}}" in text
    with open(os.path.join(CHECKOUT_KERNELS_DIR, "infer", "infer.py"), encoding="utf-8") as fh:
        assert "\nPUSH_SETTINGS = {}\n" in fh.read()  # the checkout's copy is untouched


def test_push_waits_until_a_dataset_pending_twice_is_ready(fake_kaggle, tmp_path, capsys):
    fake_kaggle.dataset_statuses = ["BLOBS_RECEIVED", "BLOBS_RECEIVED", "READY"]
    assert workflows.push_model(make_model_dir(tmp_path), poll_s=0.01) == "created"
    methods = fake_kaggle.methods()
    after = methods[methods.index("CreateDataset") + 1:]
    assert after.count("GetDatasetStatus") == 3
    out = capsys.readouterr().out
    assert "blobs_received" in out and "ready after" in out
    # a new version is waited for too
    assert workflows.push_model(tmp_path / "model", notes="v2", poll_s=0.01) == "versioned"
    methods = fake_kaggle.methods()
    assert methods[methods.index("CreateDatasetVersion") + 1:].count("GetDatasetStatus") == 3


def test_a_dataset_that_fails_processing_is_an_error(fake_kaggle, tmp_path):
    fake_kaggle.dataset_statuses = ["BLOBS_RECEIVED", "FAILED"]
    with pytest.raises(KaggleError, match="processing ended in 'failed'"):
        workflows.push_model(make_model_dir(tmp_path), poll_s=0.01)


def test_a_dataset_still_processing_at_the_timeout_is_an_error(fake_kaggle, tmp_path):
    fake_kaggle.dataset_statuses = ["BLOBS_RECEIVED"]
    with pytest.raises(KaggleError, match="not ready after .*blobs_received"):
        workflows.push_model(make_model_dir(tmp_path), poll_s=0.2, wait_s=0.5)


def test_code_dataset_carries_the_version_and_commit_stamp(fake_kaggle):
    import lmsys

    assert workflows.push_code(poll_s=0.01) == "created"
    members = zip_members(fake_kaggle.datasets[f"{FAKE_USER}/lmsys-arena-code"][0]["files"]["lmsys.zip"])
    stamp = json.loads(members["code_stamp.json"])
    assert stamp["lmsys_version"] == lmsys.__version__
    repo = os.path.dirname(os.path.dirname(os.path.abspath(lmsys.__file__)))
    head = subprocess.run(["git", "-C", repo, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert stamp["git_commit"].split("+")[0] == head


@pytest.mark.slow
def test_invoke_push_kernel_takes_competition_and_allow_cpu(fake_kaggle):
    from test_kaggle_flows import run_invoke

    proc = run_invoke("push-kernel", "--competition", LIVE_COMPETITION, "--allow-cpu")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    sent = fake_kaggle.requests_for("SaveKernel")[0]
    assert sent["competitionDataSources"] == [LIVE_COMPETITION]
    assert "\nPUSH_SETTINGS = {'allow_cpu': True}" in sent["text"]
