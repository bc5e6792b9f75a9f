"""Reading the competition's train.csv / test.csv safely.

Text fields are JSON lists (one string per turn, a turn may be ``null``). They are parsed with
``json.loads`` only (the starter's ``eval`` runs whatever a CSV holds and splits surrogate pairs),
lone surrogates are repaired code point by code point, and anything malformed raises a
:class:`DataError` that names the file, the row id and the column.
"""

from __future__ import annotations

import codecs
import io
import json
import os
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lmsys.data.columns import CLASS_NAMES, LABEL_COLUMNS, TEST_COLUMNS, TEXT_COLUMNS, TRAIN_COLUMNS
from lmsys.data.encoding import repair_turns

LONG_TEXT_CHARS = 20_000


class DataError(ValueError):
    """Bad competition input; the message names the file, the row id and the column."""

    def __init__(self, path, message, row_id=None, column=None):
        where = [f"{path}"]
        if row_id is not None:
            where.append(f"row id {row_id}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{': '.join([', '.join(where), message])}")
        self.path, self.row_id, self.column = str(path), row_id, column


@dataclass
class ParseReport:
    """What was odd but kept (counted), and what was skipped in non-strict mode."""

    path: str
    kind: str
    rows: int = 0
    multi_turn_rows: int = 0
    null_turns: int = 0
    encode_fail_rows: int = 0
    empty_responses: int = 0
    identical_responses: int = 0
    turn_count_mismatch: int = 0
    long_texts: int = 0
    skipped: dict = field(default_factory=dict)  # row id -> reason

    def summary(self) -> str:
        parts = [f"{self.rows} {self.kind} rows from {self.path}", f"{self.multi_turn_rows} multi-turn",
                 f"{self.null_turns} null turns", f"{self.encode_fail_rows} encode-fail",
                 f"{self.empty_responses} empty responses", f"{self.identical_responses} identical pairs"]
        if self.skipped:
            ids = ", ".join(str(k) for k in list(self.skipped)[:10])
            parts.append(f"{len(self.skipped)} skipped (ids {ids}{'...' if len(self.skipped) > 10 else ''})")
        return "; ".join(parts)


# Undecodable bytes become this private-use character, so the row holding them can be named.
_BAD_BYTE = "\U000F0BAD"
codecs.register_error("lmsys_mark_bad_bytes", lambda err: (_BAD_BYTE, err.end))


def _read_text(path) -> str:
    with open(path, "rb") as fh:
        raw = fh.read()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    return raw.decode("utf-8", errors="lmsys_mark_bad_bytes")


def _has_bad_bytes(text: str) -> bool:
    return not text.isascii() and _BAD_BYTE in text


def parse_turns(cell: str) -> tuple[list[str], int]:
    """Parse one JSON list of turns; returns (turns with null -> "", number of null turns).

    Raises ValueError with the reason when the cell is not a JSON list of strings/nulls.
    """
    try:
        value = json.loads(cell)
    except RecursionError:
        raise ValueError("JSON nested too deeply to parse; expected a flat JSON list of strings") from None
    except json.JSONDecodeError as exc:
        if cell.strip().lower() in ("", "nan", "none", "null"):
            raise ValueError(f"empty or missing cell ({cell!r}); expected a JSON list of strings") from None
        hint = " (looks like a Python literal; expected JSON with double quotes)" if "'" in cell[:3] else ""
        raise ValueError(f"not valid JSON{hint}: {exc.msg} at char {exc.pos}") from None
    if type(value) is not list:
        if value is None or value != value:  # null or NaN: an empty cell written by a tool
            raise ValueError(f"empty or missing cell ({cell!r}); expected a JSON list of strings")
        raise ValueError(f"expected a JSON list, got {type(value).__name__}")
    if all(type(t) is str for t in value):
        return value, 0
    nulls = 0
    for i, turn in enumerate(value):
        if turn is None:
            nulls += 1
        elif not isinstance(turn, str):
            raise ValueError(f"turn {i} is {type(turn).__name__}, expected a string or null")
    return ["" if t is None else t for t in value], nulls


_INT_ID = re.compile(r"[+-]?[0-9]+(?:\.0*)?")
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1


def _parse_id(raw: str):
    """(int, None) for an integer id read exactly from its text ("12" or "12.0"), else (None, the reason)."""
    text = raw.strip()
    if not _INT_ID.fullmatch(text):
        if text and _FRACTION.fullmatch(text):
            return None, f"id {text!r} is not an integer (it has a fractional part)"
        return None, f"id {text!r} is not an integer"
    value = int(text.split(".")[0])
    if not INT64_MIN <= value <= INT64_MAX:
        return None, f"id {text} is outside the 64-bit integer range"
    return value, None


_FRACTION = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _may_hold_surrogates(cell: str) -> bool:
    """Lone surrogates can only come from \\uD8xx-\\uDFxx escapes; most cells hold none."""
    return "\\ud" in cell or "\\uD" in cell


def _labels(frame: pd.DataFrame, path, ids, strict, bad: dict) -> np.ndarray:
    onehot = np.zeros((len(frame), 3), dtype=np.int64)
    for j, col in enumerate(LABEL_COLUMNS):
        values = pd.to_numeric(frame[col].str.strip(), errors="coerce").to_numpy()
        for i in np.flatnonzero(~np.isin(values, (0, 1))):
            _fail(path, ids[i], col, f"label {frame[col].iat[i]!r} is not 0 or 1", strict, bad)
        onehot[:, j] = np.where(np.isin(values, (0, 1)), values, 0)
    for i in np.flatnonzero(onehot.sum(axis=1) != 1):
        if ids[i] not in bad:
            _fail(path, ids[i], "winner_*", f"labels {onehot[i].tolist()} are not exactly one-hot", strict, bad)
    return onehot.argmax(axis=1)


def _fail(path, row_id, column, message, strict, bad: dict):
    if strict:
        raise DataError(path, message, row_id=row_id, column=column)
    bad.setdefault(row_id, f"{column}: {message}")


def load_competition_csv(path, strict: bool = True) -> pd.DataFrame:
    """Read train.csv or test.csv (told apart by their columns) into parsed, cleaned rows.

    Returns a DataFrame with ``prompt``/``response_a``/``response_b`` as lists of str, ``encode_fail``
    and, for train, ``class_label`` (0 = A, 1 = B, 2 = tie) and ``class_name``. The
    :class:`ParseReport` is at ``df.attrs["report"]``. With ``strict=False`` unparseable rows are
    skipped and listed in the report instead of raising.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise DataError(path, "file not found")
    text = _read_text(path)
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(path, f"not a readable CSV: {exc}") from None
    columns = set(frame.columns)
    if set(LABEL_COLUMNS) & columns or "model_a" in columns:
        kind, required = "train", TRAIN_COLUMNS
    else:
        kind, required = "test", TEST_COLUMNS
    missing = [c for c in required if c not in columns]
    if missing:
        raise DataError(path, f"missing {kind} column(s) {missing}; found {list(frame.columns)}")

    report = ParseReport(path=path, kind=kind)
    bad: dict = {}
    ids = []  # exact Python ints; a row whose id is not one gets a label naming its line, never a wrong number
    for i, raw in enumerate(frame["id"].tolist()):
        value, reason = _parse_id(raw)
        if reason is None:
            ids.append(value)
            continue
        label = f"#{i + 1} ({raw.strip()!r})"
        ids.append(label)
        _fail(path, label, "id", reason, strict, bad)
    dup = pd.Series(ids).duplicated(keep=False).to_numpy()
    if dup.any():
        first = [ids[i] for i in np.flatnonzero(dup)][:5]
        if strict:
            raise DataError(path, f"duplicate ids {first} ({int(dup.sum())} rows)", row_id=first[0], column="id")
        for i in np.flatnonzero(dup):
            bad.setdefault(ids[i], "id: duplicate id")

    for col in frame.columns:
        bad_bytes = frame[col].map(_has_bad_bytes).to_numpy()
        if bad_bytes.any():
            for i in np.flatnonzero(bad_bytes):
                _fail(path, ids[i], col, "holds bytes that are not valid UTF-8", strict, bad)

    parsed = {}
    encode_fail = np.zeros(len(frame), dtype=bool)
    row_nulls = np.zeros(len(frame), dtype=np.int64)
    for col in TEXT_COLUMNS:
        out = []
        for i, cell in enumerate(frame[col].tolist()):
            try:
                turns, nulls = parse_turns(cell)
            except ValueError as exc:
                _fail(path, ids[i], col, str(exc), strict, bad)
                out.append([])
                continue
            if _may_hold_surrogates(cell):
                turns, failed = repair_turns(turns)
                encode_fail[i] |= failed
            row_nulls[i] += nulls
            out.append(turns)
        parsed[col] = out

    labels = _labels(frame, path, ids, strict, bad) if kind == "train" else None

    result = pd.DataFrame({"id": ids})
    if kind == "train":
        result["model_a"] = frame["model_a"].to_numpy()
        result["model_b"] = frame["model_b"].to_numpy()
    for col in TEXT_COLUMNS:
        result[col] = parsed[col]
    result["encode_fail"] = encode_fail
    result["null_turns"] = row_nulls
    if kind == "train":
        result["class_label"] = labels
        result["class_name"] = np.asarray(CLASS_NAMES)[labels]
    if bad:
        keep = ~result["id"].isin(list(bad)).to_numpy()
        result = result[keep].reset_index(drop=True)
    if len(result):
        result["id"] = result["id"].astype(np.int64)

    _count(result, report)
    report.skipped = bad
    result.attrs["report"] = report
    return result


def _count(df: pd.DataFrame, report: ParseReport):
    a, b, p = df["response_a"].tolist(), df["response_b"].tolist(), df["prompt"].tolist()
    report.rows = len(df)
    report.multi_turn_rows = sum(len(t) > 1 for t in p)
    report.encode_fail_rows = int(df["encode_fail"].sum())
    report.empty_responses = sum(not any(x) for x in a) + sum(not any(x) for x in b)
    report.identical_responses = sum(x == y for x, y in zip(a, b))
    report.turn_count_mismatch = sum(not (len(x) == len(y) == len(z)) for x, y, z in zip(p, a, b))
    report.long_texts = sum(sum(map(len, x)) > LONG_TEXT_CHARS for col in (p, a, b) for x in col)
    report.null_turns = int(df["null_turns"].sum())


def labels_onehot(df: pd.DataFrame) -> np.ndarray:
    return np.eye(3, dtype=np.float32)[df["class_label"].to_numpy()]
