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
import shutil
import zipfile

COMPETITION = "lmsys-chatbot-arena"  # the default (ended 2024: scored submissions are no longer possible there)
# Kaggle's "LLM Classification Finetuning": the same files, columns and metric, open indefinitely.
LIVE_COMPETITION = "llm-classification-finetuning"
COMPETITIONS = (COMPETITION, LIVE_COMPETITION)  # the folders a kernel recognises as the competition's


class KaggleError(RuntimeError):
    """A Kaggle step failed; the message carries the client's own words."""


MAX_UNZIP_BYTES = 32 * 2 ** 30  # the largest model or data set this project unpacks is a few GB
MAX_UNZIP_RATIO = 200  # text compresses ~5x, weights ~1x; 1000x is a zip bomb
MAX_UNZIP_ENTRIES = 100_000


def safe_extract(archive_path, dest, error=None, max_bytes=MAX_UNZIP_BYTES, max_ratio=MAX_UNZIP_RATIO,
                 max_entries=MAX_UNZIP_ENTRIES) -> None:
    """Unzip a zip from elsewhere (not trusted): refuse a member that would land outside `dest` ("./" is
    `dest` itself, allowed), more than `max_entries` members, more than `max_bytes` unpacked or more than
    `max_ratio` times the zip's size, or more than the free disk space; a corrupt zip is an error naming it.
    On any failure nothing of it is left in `dest` if `dest` did not exist before."""
    error = error or KaggleError
    dest_real = os.path.realpath(dest)
    existed = os.path.exists(dest_real)
    try:
        with zipfile.ZipFile(archive_path) as archive:
            members = archive.infolist()
            if len(members) > max_entries:
                raise error(f"{archive_path}: {len(members)} entries, more than the {max_entries} allowed")
            for member in members:
                target = os.path.realpath(os.path.join(dest_real, member.filename))
                if target != dest_real and not target.startswith(dest_real + os.sep):
                    raise error(f"{archive_path}: member {member.filename!r} would be written outside {dest}")
            total = sum(m.file_size for m in members)
            packed = max(os.path.getsize(archive_path), 1)
            if total > max_bytes or total > max_ratio * max(packed, 2 ** 20):
                raise error(f"{archive_path}: would unpack to {total:,} bytes from {packed:,} (limit {max_bytes:,} "
                            f"bytes and {max_ratio}x the zip); refusing it as a zip bomb")
            os.makedirs(dest_real, exist_ok=True)
            free = shutil.disk_usage(dest_real).free
            if total > free:
                raise error(f"{archive_path}: needs {total:,} bytes unpacked, {dest} has {free:,} free")
            archive.extractall(dest_real)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as exc:
        if not existed:
            shutil.rmtree(dest_real, ignore_errors=True)
        raise error(f"{archive_path}: not a valid zip file, corrupt or truncated ({exc}); download it again") from None
    except BaseException:
        if not existed:
            shutil.rmtree(dest_real, ignore_errors=True)
        raise


@contextlib.contextmanager
def clean_exit(task: str = "TASK"):
    """The old name of lmsys.cli_errors.cli_errors, the one way every command ends on an error (one line, exit 1)."""
    from lmsys.cli_errors import cli_errors

    with cli_errors(task):
        yield
