"""Atomic writes: a run killed at any moment leaves either the old file or the new one, never half."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import tempfile
import time


STALE_AFTER_S = 60.0
_TMP_MARK = ".tmp."


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def output_mode(directory: bool = False) -> int:
    """The mode a plain open() / mkdir() would give under the current umask (0644 / 0755 under umask 022)."""
    return (0o777 if directory else 0o666) & ~_umask()


def _temporary_name(path: str, suffix: str) -> str:
    return f".{os.path.basename(path)}{_TMP_MARK}{secrets.token_hex(4)}{suffix}"


def remove_stale_temporaries(path, older_than_s: float = STALE_AFTER_S) -> list[str]:
    """Temporaries of `path` left by a killed writer (.<name>.tmp.<random>..., or the older mkstemp names
    .<name>.<8 chars><suffix>), older than `older_than_s` (a younger one may belong to a live writer)."""
    path = os.fspath(path)
    directory, base = os.path.dirname(os.path.abspath(path)), os.path.basename(path)
    legacy = re.compile(re.escape(f".{base}.") + r"[a-z0-9_]{8}(\.[A-Za-z0-9.]+)?")
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    now = time.time()
    for name in names:
        if not (name.startswith(f".{base}{_TMP_MARK}") or legacy.fullmatch(name)):
            continue
        full = os.path.join(directory, name)
        try:
            if os.path.isfile(full) and now - os.path.getmtime(full) > older_than_s:
                os.remove(full)
                removed.append(full)
        except OSError:
            pass
    return removed


def remove_stale_temporary_dirs(parent, prefix: str, older_than_s: float = STALE_AFTER_S) -> list[str]:
    """Directories named <prefix>... in `parent` (a killed run's half-written model dir) older than `older_than_s`."""
    removed = []
    try:
        names = os.listdir(parent)
    except OSError:
        return removed
    for name in names:
        full = os.path.join(parent, name)
        try:
            if name.startswith(prefix) and os.path.isdir(full) and time.time() - os.path.getmtime(full) > older_than_s:
                shutil.rmtree(full, ignore_errors=True)
                removed.append(full)
        except OSError:
            pass
    return removed


@contextlib.contextmanager
def atomic_path(path, suffix: str | None = None):
    """Yield a temporary path beside `path` (.<name>.tmp.<random><suffix>); on success it gets the umask's
    mode and is renamed over `path`. Stale temporaries of the same target from a killed run are removed."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    remove_stale_temporaries(path)
    suffix = suffix if suffix is not None else os.path.splitext(path)[1] or ".tmp"
    tmp = os.path.join(directory, _temporary_name(path, suffix))
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    try:
        yield tmp
        os.chmod(tmp, output_mode())
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
