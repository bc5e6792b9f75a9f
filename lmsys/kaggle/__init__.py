"""Kaggle side of the pipeline: the real `kaggle` command, driven and checked.

Every call goes through the installed `kaggle` CLI as a subprocess (so tests can run the very
same client against a fake server), and every failure becomes a `KaggleError`, including the
ones the client only prints while exiting 0.

    credentials.py  where the credentials are (never reads the key into any output)
    cli.py          run `kaggle ...`, detect exit-0 error texts
    metadata.py     dataset-metadata.json / kernel-metadata.json
    kernel_inputs.py  what a kernel finds under its input directory (competition files, model, preset)
    kernel_main.py  what kernels/train/train.py and kernels/infer/infer.py run
    workflows.py    download, push-code, push-model, push-kernel, submit
    wheels.py       keras / keras-hub wheels that travel with the code, installed offline by the kernels
"""

import contextlib
import os
import zipfile

COMPETITION = "lmsys-chatbot-arena"  # the default (ended 2024: scored submissions are no longer possible there)
# Kaggle's "LLM Classification Finetuning": the same files, columns and metric, open indefinitely.
LIVE_COMPETITION = "llm-classification-finetuning"
COMPETITIONS = (COMPETITION, LIVE_COMPETITION)  # the folders a kernel recognises as the competition's


class KaggleError(RuntimeError):
    """A Kaggle step failed; the message carries the client's own words."""


def safe_extract(archive_path, dest, error=None) -> None:
    """Unzip, refusing any member that would land outside `dest` (a zip from elsewhere is not trusted)."""
    dest_real = os.path.realpath(dest)
    with zipfile.ZipFile(archive_path) as archive:
        for member in archive.namelist():
            if not os.path.realpath(os.path.join(dest_real, member)).startswith(dest_real + os.sep):
                raise (error or KaggleError)(f"{archive_path}: member {member!r} would be written outside {dest}")
        archive.extractall(dest_real)


@contextlib.contextmanager
def clean_exit():
    """For command-line entry points: a KaggleError ends the run with its message, not a traceback."""
    try:
        yield
    except KaggleError as exc:
        raise SystemExit(f"error: {exc}") from None
