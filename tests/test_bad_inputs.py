"""Hostile inputs (issue 13): every one gets an error that names the file, row or flag, or is skipped and
reported with strict=False; nothing becomes a silently wrong value."""

import os

import pandas as pd
import pytest

from lmsys.data import DataError, load_competition_csv


def _row(**cells):
    row = {"id": "1", "model_a": "m1", "model_b": "m2", "prompt": '["hi"]', "response_a": '["a"]',
           "response_b": '["b"]', "winner_model_a": 1, "winner_model_b": 0, "winner_tie": 0}
    row.update(cells)
    return row


def _write(tmp_path, rows, name="train.csv"):
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


# --- ids (items 3, 4) ---

def test_an_id_above_int64_is_rejected_naming_the_row_not_wrapped(tmp_path):
    big = str(2 ** 63)
    path = _write(tmp_path, [_row(id="5"), _row(id=big), _row(id=str(2 ** 63 + 1))])
    with pytest.raises(DataError) as err:
        load_competition_csv(path)
    message = str(err.value)
    assert f"#2 ('{big}')" in message and "64-bit" in message and "duplicate" not in message


def test_ids_at_the_int64_limits_are_read_exactly(tmp_path):
    ids = [str(2 ** 63 - 1), str(-(2 ** 63)), "123456789012345678"]
    df = load_competition_csv(_write(tmp_path, [_row(id=i) for i in ids]))
    assert df["id"].tolist() == [int(i) for i in ids]
    assert str(df["id"].dtype) == "int64"


def test_a_fractional_id_is_rejected_naming_the_row(tmp_path):
    path = _write(tmp_path, [_row(id="1"), _row(id="2.5")])
    with pytest.raises(DataError, match=r"row id #2 \('2.5'\).*'id'.*not an integer"):
        load_competition_csv(path)


def test_an_integral_float_id_reads_as_that_integer(tmp_path):
    df = load_competition_csv(_write(tmp_path, [_row(id="7.0"), _row(id="8")]))
    assert df["id"].tolist() == [7, 8]


def test_non_strict_skips_fractional_and_out_of_range_ids_and_reports_them(tmp_path):
    rows = [_row(id="1"), _row(id="2.5"), _row(id="3"), _row(id=str(2 ** 64)), _row(id="abc")]
    df = load_competition_csv(_write(tmp_path, rows), strict=False)
    assert df["id"].tolist() == [1, 3]
    assert str(df["id"].dtype) == "int64"
    skipped = df.attrs["report"].skipped
    assert len(skipped) == 3 and any("2.5" in str(k) for k in skipped)


def test_a_fractional_test_id_fails_predict_input_with_one_named_error(tmp_path):
    path = _write(tmp_path, [{"id": "4.5", "prompt": '["p"]', "response_a": '["a"]', "response_b": '["b"]'}],
                  name="test.csv")
    with pytest.raises(DataError, match=r"test.csv, row id #1 \('4.5'\)"):
        load_competition_csv(path)


# --- deep JSON (item 8) ---

def test_json_nested_100000_levels_is_a_data_error_naming_the_row(tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    path = _write(tmp_path, [_row(id="1"), _row(id="2", response_b=deep)])
    with pytest.raises(DataError, match=r"row id 2, column 'response_b'.*nested too deeply"):
        load_competition_csv(path)


def test_non_strict_skips_a_deeply_nested_row(tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    df = load_competition_csv(_write(tmp_path, [_row(id="1"), _row(id="2", prompt=deep)]), strict=False)
    assert df["id"].tolist() == [1]
    assert list(df.attrs["report"].skipped) == [2]
