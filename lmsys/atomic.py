"""Atomic writes: a run killed at any moment leaves either the old file or the new one, never half."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile


@contextlib.contextmanager
def atomic_path(path, suffix: str | None = None):
    """Yield a temporary path beside `path`; on success it is renamed over `path`."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    suffix = suffix if suffix is not None else os.path.splitext(path)[1] or ".tmp"
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=suffix, dir=directory)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text(path, text: str) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())


def write_json(path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def replace_dir(tmp_dir, final_dir) -> None:
    """Move a fully written directory into place; the previous one is removed only afterwards."""
    final_dir = os.fspath(final_dir)
    old = None
    if os.path.exists(final_dir):
        old = tempfile.mkdtemp(prefix=f".{os.path.basename(final_dir)}.old.", dir=os.path.dirname(os.path.abspath(final_dir)))
        os.rmdir(old)
        os.replace(final_dir, old)
    os.replace(tmp_dir, final_dir)
    if old:
        shutil.rmtree(old, ignore_errors=True)
