"""The Kaggle flows behind `invoke download | push-code | push-model | push-kernel | submit`.

Each step runs the real `kaggle` command (lmsys.kaggle.cli) and checks what came back, so a
failure stops the flow with the client's message instead of passing silently.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import shutil
import tempfile
import time
import zipfile

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
MODEL_PUSH_SKIP = ("checkpoint", "dataset-metadata.json")
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
        try:
            safe_extract(os.path.join(tmp, zips[0]), unpacked)
        except zipfile.BadZipFile as exc:
            raise KaggleError(f"{zips[0]}: not a valid zip ({exc})") from None
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


def push_dataset(folder, ref: str, notes: str) -> str:
    """Create the dataset `ref`, or a new version when it exists; return 'created' or 'versioned'."""
    if dataset_exists(ref):
        run_kaggle(["datasets", "version", "-p", folder, "-m", notes, "--dir-mode", "zip"], echo=True)
        print(f"dataset {ref}: new version pushed")
        return "versioned"
    run_kaggle(["datasets", "create", "-p", folder, "--dir-mode", "zip"], echo=True)
    print(f"dataset {ref}: created")
    return "created"


def _link_or_copy(src, dst) -> None:
    try:
        os.symlink(os.path.abspath(src), dst)
    except OSError:
        (shutil.copytree if os.path.isdir(src) else shutil.copy2)(src, dst)


def push_code(owner: str | None = None, slug: str = DEFAULT_CODE_SLUG, notes: str = "lmsys code",
              wheels=()) -> str:
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
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*"))
        for path in wheels:
            shutil.copy2(path, os.path.join(stage, os.path.basename(path)))
        return push_dataset(stage, f"{owner}/{slug}", notes)


def push_model(model_dir, owner: str | None = None, slug: str = DEFAULT_MODEL_SLUG, notes: str | None = None) -> str:
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
        return push_dataset(stage, f"{owner}/{slug}", notes or f"model from {os.path.basename(os.path.abspath(model_dir))}")


# ---------------------------------------------------------------- kernels
def push_kernel(kind: str, owner: str | None = None, accelerator: str | None = None, kernel_slug: str | None = None,
                code_slug: str = DEFAULT_CODE_SLUG, model_slug: str = DEFAULT_MODEL_SLUG,
                preset_source: str | None = None) -> tuple[str, int | None]:
    """Push the <kind> kernel (its code rendered from lmsys/kaggle/kernel_bootstrap.py) with generated
    metadata; return (owner/slug, version number)."""
    owner = owner_or_default(owner)
    meta = kernel_metadata(kind, owner, code_slug=code_slug, model_slug=model_slug, kernel_slug=kernel_slug,
                           accelerator=accelerator, preset_source=preset_source)
    code_file = meta["code_file"]
    with _staging(f"kernel-{kind}") as stage:
        write_text(os.path.join(stage, code_file), render_kernel(kind))
        write_json(os.path.join(stage, KERNEL_METADATA_FILE), meta)
        output = run_kaggle(["kernels", "push", "-p", stage], echo=True)
    match = re.search(r"Kernel version (\d+) successfully pushed", output)
    version = int(match.group(1)) if match else None
    print(f"kernel {meta['id']}: version {version if version is not None else '(not reported)'} pushed "
          f"(gpu={meta['enable_gpu']}, tpu={meta['enable_tpu']}, internet={meta['enable_internet']})")
    return meta["id"], version


def kernel_status(ref: str) -> tuple[str, str | None]:
    """(STATUS, failure message or None) from `kaggle kernels status`."""
    output = run_kaggle(["kernels", "status", ref])
    match = re.search(r'has status "(?:[A-Za-z]+\.)?([A-Za-z_]+)"', output)
    if not match:
        raise KaggleError(f"`kaggle kernels status {ref}`: unexpected output {output.strip()!r}")
    failure = re.search(r'Failure message: "(.*)"', output)
    return match.group(1).upper(), failure.group(1) if failure else None


def wait_for_kernel(ref: str, timeout_s: float, poll_s: float = 60) -> str:
    """Poll until the kernel completes; raise on ERROR/cancel or when timeout_s passes."""
    start = time.monotonic()
    last = None
    while True:
        status, failure = kernel_status(ref)
        elapsed = time.monotonic() - start
        if status != last:
            print(f"kernel {ref}: {status} after {elapsed:.0f} s", flush=True)
            last = status
        if status == KERNEL_DONE:
            return status
        if status in KERNEL_FAILED:
            raise KaggleError(f"kernel {ref} ended in {status}" + (f": {failure}" if failure else "")
                              + f" (see `kaggle kernels logs {ref}`)")
        if elapsed + poll_s > timeout_s:
            raise KaggleError(f"kernel {ref} still {status} after {elapsed:.0f} s (timeout {timeout_s:g} s); "
                              f"check `kaggle kernels status {ref}`")
        time.sleep(poll_s)


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
           ) -> dict:
    """Push the inference kernel, wait for it, submit that version, wait for the score and print it."""
    owner = owner_or_default(owner)
    ref, version = push_kernel("infer", owner, accelerator, kernel_slug, code_slug, model_slug)
    if version is None:
        raise KaggleError(f"`kaggle kernels push` did not report a version number for {ref}; cannot submit it")
    wait_for_kernel(ref, kernel_timeout_s, poll_s)
    message = f"{message or 'lmsys'} [{ref} v{version} {time.strftime('%Y-%m-%d %H:%M:%S')}]"
    output = run_kaggle(["competitions", "submit", COMPETITION, "-k", ref, "-v", str(version),
                         "-f", "submission.csv", "-m", message], echo=True)
    print(f"submitted {ref} version {version}: {output.strip()}")
    row = wait_for_score(message, score_timeout_s, poll_s)
    print(f"public score: {row.get('publicScore') or '(hidden)'}  private score: {row.get('privateScore') or '(hidden)'}")
    return {"kernel": ref, "version": version, "message": message, **row}
