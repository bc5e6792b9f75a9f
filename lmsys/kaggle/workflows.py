"""The Kaggle flows behind `invoke download | push-code | push-model | push-kernel | submit`.

Each step runs the real `kaggle` command (lmsys.kaggle.cli) and checks what came back, so a
failure stops the flow with the client's message instead of passing silently.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import time

import pandas as pd

from lmsys.atomic import write_json, write_text
from lmsys.data import TEST_COLUMNS, TRAIN_COLUMNS
from lmsys.kaggle import COMPETITION, KaggleError, safe_extract
from lmsys.kaggle.cli import KaggleCommandError, run_kaggle
from lmsys.kaggle.credentials import find_credentials
from lmsys.evaluate.submission import SUBMISSION_COLUMNS
from lmsys.kaggle.metadata import (DEFAULT_CODE_SLUG, DEFAULT_MODEL_SLUG, KERNEL_METADATA_FILE,
                                   check_slug, kernel_metadata, render_kernel, write_dataset_metadata)

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMPETITION_FILES = {"train.csv": TRAIN_COLUMNS, "test.csv": TEST_COLUMNS, "sample_submission.csv": SUBMISSION_COLUMNS}
# Resume state (full weights with optimizer state: ~1.4 GB for extra_small) is not needed to predict.
MODEL_PUSH_SKIP = ("checkpoint", "dataset-metadata.json", "model_stamp.json")
KERNEL_DONE = "COMPLETE"
KERNEL_FAILED = ("ERROR", "CANCEL_REQUESTED", "CANCEL_ACKNOWLEDGED")
SUBMISSION_DONE = "COMPLETE"
SUBMISSION_FAILED = ("ERROR",)


def owner_or_default(owner: str | None) -> str:
    return owner or find_credentials().username


@contextlib.contextmanager
def _staging(prefix: str):
    path = tempfile.mkdtemp(prefix=f"lmsys-{prefix}-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------- download
def check_competition_files(folder) -> dict:
    """Every competition file present with exactly the expected columns; return their paths."""
    paths = {}
    for name, columns in COMPETITION_FILES.items():
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            raise KaggleError(f"{path}: missing from the competition download")
        header = list(pd.read_csv(path, nrows=0).columns)
        if header != list(columns):
            raise KaggleError(f"{path}: columns are {header}, expected {list(columns)}")
        paths[name] = path
    return paths


def download(dest="data", competition: str = COMPETITION, timeout_s: float = 3600) -> dict:
    """Download the competition zip, unzip it, check every file, then move them into `dest`."""
    find_credentials()
    os.makedirs(dest, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=dest) as tmp:
        run_kaggle(["competitions", "download", competition, "-p", tmp], timeout=timeout_s, echo=True)
        zips = [f for f in os.listdir(tmp) if f.endswith(".zip")]
        if not zips:
            raise KaggleError(f"`kaggle competitions download {competition}` wrote no zip file (found {os.listdir(tmp)})")
        unpacked = os.path.join(tmp, "unpacked")
        safe_extract(os.path.join(tmp, zips[0]), unpacked)  # a corrupt zip: an error naming it (KaggleError)
        check_competition_files(unpacked)
        paths = {}
        for name in COMPETITION_FILES:
            paths[name] = os.path.join(dest, name)
            os.replace(os.path.join(unpacked, name), paths[name])
    for name, path in paths.items():
        print(f"{path}: ok ({os.path.getsize(path):,} bytes)")
    return paths


# ---------------------------------------------------------------- datasets
def dataset_exists(ref: str) -> bool:
    try:
        run_kaggle(["datasets", "status", ref])
        return True
    except KaggleCommandError:
        return False


DATASET_READY = "ready"
DATASET_FAILED = ("failed", "deleted")


def dataset_status(ref: str) -> str:
    """`kaggle datasets status REF`: ready, failed, or a processing state (blobs_received, ...)."""
    output = run_kaggle(["datasets", "status", ref])
    words = re.findall(r"^\s*([a-z_]+)\s*$", output, re.MULTILINE)
    if not words:
        raise KaggleError(f"`kaggle datasets status {ref}`: unexpected output {output.strip()!r}")
    return words[-1]


def wait_for_dataset(ref: str, timeout_s: float = 1800, poll_s: float = 15) -> str:
    """Poll until the dataset's newest version is ready: a kernel pushed before that can mount the previous
    version or fail. A status call that fails (a first version can answer 403/404 while it is processed)
    counts as not ready yet."""
    start = time.monotonic()
    last = None
    while True:
        try:
            status = dataset_status(ref)
        except KaggleCommandError as exc:
            status = f"unavailable ({str(exc).split(': ', 1)[-1][:200]})"
        elapsed = time.monotonic() - start
        if status != last:
            print(f"dataset {ref}: {status} after {elapsed:.0f} s", flush=True)
            last = status
        if status == DATASET_READY:
            return status
        if status in DATASET_FAILED:
            raise KaggleError(f"dataset {ref}: processing ended in {status!r}; see its page on Kaggle")
        if elapsed + poll_s > timeout_s:
            raise KaggleError(f"dataset {ref} not ready after {elapsed:.0f} s (last status {status}); "
                              f"check `kaggle datasets status {ref}` before pushing a kernel that mounts it")
        time.sleep(poll_s)


def push_dataset(folder, ref: str, notes: str, wait_s: float = 1800, poll_s: float = 15) -> str:
    """Create the dataset `ref`, or a new version when it exists, then wait until Kaggle has processed it
    (wait_s=0: do not wait); return 'created' or 'versioned'."""
    if dataset_exists(ref):
        run_kaggle(["datasets", "version", "-p", folder, "-m", notes, "--dir-mode", "zip"], echo=True)
        print(f"dataset {ref}: new version pushed")
        result = "versioned"
    else:
        run_kaggle(["datasets", "create", "-p", folder, "--dir-mode", "zip"], echo=True)
        print(f"dataset {ref}: created")
        result = "created"
    if wait_s:
        wait_for_dataset(ref, wait_s, poll_s)
    return result


CODE_STAMP_FILE = "code_stamp.json"  # inside the lmsys package of the code dataset
MODEL_STAMP_FILE = "model_stamp.json"  # beside config.json in the model dataset


def git_commit(repo_dir: str) -> str:
    """HEAD's commit, '+dirty' when tracked files differ from it; 'unknown' outside a git checkout."""
    import subprocess

    def git(*args):
        done = subprocess.run(["git", "-C", repo_dir, *args], capture_output=True, text=True, timeout=30)
        return done.stdout.strip() if done.returncode == 0 else None

    try:
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if not commit:
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def code_stamp() -> dict:
    """What the code dataset carries (and the kernels print): lmsys version + git commit."""
    import lmsys

    return {"lmsys_version": lmsys.__version__, "git_commit": git_commit(os.path.dirname(PACKAGE_DIR)),
            "pushed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def config_hash(model_dir) -> str:
    """sha256 (first 16 hex digits) of the model's configuration, key order and whitespace aside."""
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as fh:
        values = json.load(fh)
    return hashlib.sha256(json.dumps(values, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def _link_or_copy(src, dst) -> None:
    try:
        os.symlink(os.path.abspath(src), dst)
    except OSError:
        (shutil.copytree if os.path.isdir(src) else shutil.copy2)(src, dst)


def push_code(owner: str | None = None, slug: str = DEFAULT_CODE_SLUG, notes: str = "lmsys code",
              wheels=(), wait_s: float = 1800, poll_s: float = 15) -> str:
    """Push the lmsys package source as a Kaggle dataset (the kernels import it from there).

    `wheels` (.whl paths, e.g. from lmsys.kaggle.wheels.download_wheels) travel beside it; the kernels
    install them offline before importing anything, so an image with other keras / keras-hub versions
    runs the pinned ones.
    """
    owner = owner_or_default(owner)
    for path in wheels:
        if not (path.endswith(".whl") and os.path.isfile(path)):
            raise KaggleError(f"{path}: not a wheel file")
    with _staging("code") as stage:
        write_dataset_metadata(stage, owner, check_slug(slug, "code dataset slug"))
        shutil.copytree(PACKAGE_DIR, os.path.join(stage, "lmsys"),
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*", CODE_STAMP_FILE))
        stamp = code_stamp()
        write_json(os.path.join(stage, "lmsys", CODE_STAMP_FILE), stamp)
        print(f"code stamp: lmsys {stamp['lmsys_version']}, git {stamp['git_commit']}")
        for path in wheels:
            shutil.copy2(path, os.path.join(stage, os.path.basename(path)))
        return push_dataset(stage, f"{owner}/{slug}", notes, wait_s, poll_s)


def push_model(model_dir, owner: str | None = None, slug: str = DEFAULT_MODEL_SLUG, notes: str | None = None,
               wait_s: float = 1800, poll_s: float = 15) -> str:
    """Push a trained model directory (config.json + weights + preset folder) as a Kaggle dataset."""
    from lmsys.config import Config

    Config.load(model_dir)  # refuses anything that is not a model directory made by `invoke train`
    owner = owner_or_default(owner)
    with _staging("model") as stage:
        write_dataset_metadata(stage, owner, check_slug(slug, "model dataset slug"))
        for name in sorted(os.listdir(model_dir)):
            if name.startswith(".") or name in MODEL_PUSH_SKIP:
                continue
            _link_or_copy(os.path.join(model_dir, name), os.path.join(stage, name))
        digest = config_hash(model_dir)
        write_json(os.path.join(stage, MODEL_STAMP_FILE),
                   {"config_sha256": digest, "source": os.path.basename(os.path.abspath(model_dir)),
                    "pushed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        print(f"model stamp: config {digest}")
        return push_dataset(stage, f"{owner}/{slug}", notes or f"model from {os.path.basename(os.path.abspath(model_dir))}",
                            wait_s, poll_s)


# ---------------------------------------------------------------- kernels
def push_kernel(kind: str, owner: str | None = None, accelerator: str | None = None, kernel_slug: str | None = None,
                code_slug: str = DEFAULT_CODE_SLUG, model_slug: str = DEFAULT_MODEL_SLUG,
                preset_source: str | None = None, competition: str = COMPETITION,
                allow_cpu: bool = False, push_id: str | None = None) -> tuple[str, int | None]:
    """Push the <kind> kernel (its code rendered from lmsys/kaggle/kernel_bootstrap.py) with generated
    metadata; return (owner/slug, version number).

    A script kernel runs with no arguments and no environment of ours, so the settings it needs from here
    (`allow_cpu`, and `push_id`, which the inference kernel writes into inference_report.json so `submit` can
    tell this version's output from an earlier one's) are written into the pushed copy of the script."""
    owner = owner_or_default(owner)
    meta = kernel_metadata(kind, owner, code_slug=code_slug, model_slug=model_slug, kernel_slug=kernel_slug,
                           accelerator=accelerator, preset_source=preset_source, competition=competition)
    code_file = meta["code_file"]
    with _staging(f"kernel-{kind}") as stage:
        settings = {key: value for key, value in (("allow_cpu", allow_cpu), ("push_id", push_id)) if value}
        write_text(os.path.join(stage, code_file), with_push_settings(render_kernel(kind), settings))
        write_json(os.path.join(stage, KERNEL_METADATA_FILE), meta)
        output = run_kaggle(["kernels", "push", "-p", stage], echo=True)
    match = re.search(r"Kernel version (\d+) successfully pushed", output)
    version = int(match.group(1)) if match else None
    print(f"kernel {meta['id']}: version {version if version is not None else '(not reported)'} pushed "
          f"(gpu={meta['enable_gpu']}, tpu={meta['enable_tpu']}, internet={meta['enable_internet']}, "
          f"competition={competition})")
    return meta["id"], version


PUSH_SETTINGS_LINE = "PUSH_SETTINGS = {}"


def with_push_settings(source: str, settings: dict) -> str:
    """The kernel script with its `PUSH_SETTINGS = {}` line holding `settings` (unchanged when empty)."""
    if not settings:
        return source
    lines = source.splitlines(keepends=True)
    hits = [i for i, line in enumerate(lines) if line.rstrip("\r\n") == PUSH_SETTINGS_LINE]
    if len(hits) != 1:
        raise KaggleError(f"kernel script: expected exactly one line {PUSH_SETTINGS_LINE!r} to fill in, found {len(hits)}")
    lines[hits[0]] = f"PUSH_SETTINGS = {dict(sorted(settings.items()))!r}  # written by push-kernel\n"
    return "".join(lines)


def kernel_status(ref: str) -> tuple[str, str | None]:
    """(STATUS, failure message or None) from `kaggle kernels status`."""
    output = run_kaggle(["kernels", "status", ref])
    match = re.search(r'has status "(?:[A-Za-z]+\.)?([A-Za-z_]+)"', output)
    if not match:
        raise KaggleError(f"`kaggle kernels status {ref}`: unexpected output {output.strip()!r}")
    failure = re.search(r'Failure message: "(.*)"', output)
    return match.group(1).upper(), failure.group(1) if failure else None


def wait_for_kernel(ref: str, timeout_s: float, poll_s: float = 60, version: int | None = None,
                    start_timeout_s: float | None = None) -> str:
    """Poll until the kernel completes; raise on ERROR/cancel or when timeout_s passes.

    `kaggle kernels status` takes no version, and right after a push it can still report the previous
    version's final state. So a final state (COMPLETE, ERROR, cancel) counts only after the new version was
    seen QUEUED or RUNNING; until then it is printed as possibly stale and polled again (more often), for at
    most start_timeout_s (default: 20 minutes, or timeout_s if shorter).
    """
    start = time.monotonic()
    start_timeout_s = min(timeout_s, 1200 if start_timeout_s is None else start_timeout_s)
    which = f"{ref} v{version}" if version is not None else ref
    started = False
    last = None
    while True:
        status, failure = kernel_status(ref)
        elapsed = time.monotonic() - start
        final = status == KERNEL_DONE or status in KERNEL_FAILED
        if not final:
            started = True
        if (status, started) != last:
            stale = "" if started or not final else " (not yet seen queued or running: can be the previous version's)"
            print(f"kernel {which}: {status} after {elapsed:.0f} s{stale}", flush=True)
            last = (status, started)
        if started and status == KERNEL_DONE:
            return status
        if started and status in KERNEL_FAILED:
            raise KaggleError(f"kernel {which} ended in {status}" + (f": {failure}" if failure else "")
                              + f" (see `kaggle kernels logs {ref}`)")
        if not started and elapsed + min(poll_s, 15) > start_timeout_s:
            raise KaggleError(f"kernel {which}: never seen queued or running in {elapsed:.0f} s; `kaggle kernels "
                              f"status` still reports {status}, which can be the previous version's. Check the "
                              f"kernel's page; if this version did complete, submit it with `kaggle competitions "
                              f"submit COMPETITION -k {ref} -v {version}`")
        if elapsed + poll_s > timeout_s:
            raise KaggleError(f"kernel {which} still {status} after {elapsed:.0f} s (timeout {timeout_s:g} s); "
                              f"check `kaggle kernels status {ref}`")
        time.sleep(poll_s if started else min(poll_s, 15))


def check_kernel_output(ref: str, push_id: str | None = None, dest: str | None = None) -> dict:
    """Download the kernel's output (`kaggle kernels output`) and check it holds submission.csv (with the
    submission's columns); when the output has inference_report.json, its push_id must be `push_id` (else this
    is an earlier version's output). Returns the inference report ({} when there is none)."""
    with _staging("output") as stage:
        folder = dest or stage
        run_kaggle(["kernels", "output", ref, "-p", folder, "--force"])
        files = sorted(os.listdir(folder))
        path = os.path.join(folder, "submission.csv")
        if not os.path.isfile(path):
            raise KaggleError(f"kernel {ref}: its output holds no submission.csv (found {files}); not submitting")
        try:
            header = list(pd.read_csv(path, nrows=0).columns)
        except Exception as exc:  # noqa: BLE001 - any unreadable file fails the check
            raise KaggleError(f"kernel {ref}: submission.csv in its output is not a readable CSV ({exc})") from None
        if header != list(SUBMISSION_COLUMNS):
            raise KaggleError(f"kernel {ref}: submission.csv has columns {header}, expected {list(SUBMISSION_COLUMNS)}")
        report = {}
        report_path = os.path.join(folder, "inference_report.json")
        if os.path.isfile(report_path):
            with open(report_path, encoding="utf-8") as fh:
                report = json.load(fh)
            if push_id is not None and report.get("push_id") != push_id:
                raise KaggleError(f"kernel {ref}: the output is not this push's (push id {report.get('push_id')!r}, "
                                  f"expected {push_id!r}); an earlier version's output? not submitting")
        elif push_id is not None:
            print(f"kernel {ref}: no inference_report.json in the output; cannot confirm it is this version's")
        print(f"kernel {ref}: output holds submission.csv" + (
            f"; {report.get('rows')} rows, {report.get('skipped_rows')} skipped, "
            f"{report.get('nonfinite_reruns')} float32 re-runs" if report else ""))
        return report


# ---------------------------------------------------------------- submit
def submission_row(message: str, competition: str = COMPETITION) -> dict | None:
    """Our submission's row (matched by its unique description) from `kaggle competitions submissions`."""
    output = run_kaggle(["competitions", "submissions", competition, "--csv"])
    start = output.find("ref,")
    if start < 0:
        return None
    for row in csv.DictReader(io.StringIO(output[start:])):
        if row.get("description") == message:
            return row
    return None


def wait_for_score(message: str, timeout_s: float, poll_s: float = 60, competition: str = COMPETITION) -> dict:
    start = time.monotonic()
    while True:
        row = submission_row(message, competition)
        status = (row or {}).get("status", "PENDING").rsplit(".", 1)[-1].upper()
        if status == SUBMISSION_DONE:
            return row
        if status in SUBMISSION_FAILED:
            raise KaggleError(f"submission {message!r} ended in {status}: {row}")
        elapsed = time.monotonic() - start
        if elapsed + poll_s > timeout_s:
            raise KaggleError(f"submission {message!r} still {status} after {elapsed:.0f} s (timeout {timeout_s:g} s); "
                              f"check `kaggle competitions submissions {competition}`")
        time.sleep(poll_s)


def submit(owner: str | None = None, message: str | None = None, kernel_slug: str | None = None,
           accelerator: str | None = None, code_slug: str = DEFAULT_CODE_SLUG, model_slug: str = DEFAULT_MODEL_SLUG,
           kernel_timeout_s: float = 9.5 * 3600, score_timeout_s: float = 12 * 3600, poll_s: float = 60,
           competition: str = COMPETITION, allow_cpu: bool = False,
           start_timeout_s: float | None = None, base_source: str | None = None) -> dict:
    """Push the inference kernel, wait for that version to run and complete, check its output holds
    submission.csv (and is this push's), submit that version, wait for the score and print it. `base_source`
    (owner/model/framework/variation/version): the LLM's base Kaggle Model, attached as a model source."""
    import secrets

    owner = owner_or_default(owner)
    push_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(4)}"
    ref, version = push_kernel("infer", owner, accelerator, kernel_slug, code_slug, model_slug,
                               preset_source=base_source, competition=competition, allow_cpu=allow_cpu,
                               push_id=push_id)
    if version is None or version < 1:
        raise KaggleError(f"`kaggle kernels push` did not report a version number for {ref}; cannot submit it")
    wait_for_kernel(ref, kernel_timeout_s, poll_s, version=version, start_timeout_s=start_timeout_s)
    check_kernel_output(ref, push_id)
    message = f"{message or 'lmsys'} [{ref} v{version} {time.strftime('%Y-%m-%d %H:%M:%S')}]"
    output = run_kaggle(["competitions", "submit", competition, "-k", ref, "-v", str(version),
                         "-f", "submission.csv", "-m", message], echo=True)
    print(f"submitted {ref} version {version} to {competition}: {output.strip()}")
    row = wait_for_score(message, score_timeout_s, poll_s, competition)
    print(f"public score: {row.get('publicScore') or '(hidden)'}  private score: {row.get('privateScore') or '(hidden)'}")
    return {"kernel": ref, "version": version, "message": message, "competition": competition, "push_id": push_id,
            **row}
