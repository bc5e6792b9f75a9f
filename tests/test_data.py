import json

import numpy as np
import pandas as pd
import pytest

from lmsys.data import DataError, load_competition_csv, parse_turns
from conftest import REAL_TEST_PATH, REAL_TRAIN_PATH

REAL_TRAIN = REAL_TRAIN_PATH
REAL_TEST = REAL_TEST_PATH


def test_real_train_rows_parse_with_their_known_counts(real_data):
    df = load_competition_csv(REAL_TRAIN)
    report = df.attrs["report"]
    assert len(df) == 999
    assert report.multi_turn_rows == 131
    assert report.null_turns == 5
    assert np.bincount(df["class_label"]).tolist() == [352, 352, 295]
    assert set(df["class_name"]) == {"winner_model_a", "winner_model_b", "winner_tie"}
    assert all(isinstance(t, str) for col in ("prompt", "response_a", "response_b") for turns in df[col] for t in turns)


def test_real_test_rows_parse(real_data):
    df = load_competition_csv(REAL_TEST)
    assert len(df) == 3 and "class_label" not in df.columns
    assert df["id"].tolist() == [136060, 211333, 1233961]


def _row(**cells):
    row = {"id": 1, "model_a": "m1", "model_b": "m2", "prompt": '["hi"]', "response_a": '["a"]',
           "response_b": '["b"]', "winner_model_a": 1, "winner_model_b": 0, "winner_tie": 0}
    row.update(cells)
    return row


def _write(tmp_path, rows, name="train.csv"):
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_null_turn_becomes_empty_string_and_turn_count_is_kept(tmp_path):
    path = _write(tmp_path, [_row(prompt='["q1", null, "q3"]', response_a='["a", null, "c"]', response_b='["x","y","z"]')])
    df = load_competition_csv(path)
    assert df["prompt"][0] == ["q1", "", "q3"]
    assert df["response_a"][0] == ["a", "", "c"]
    assert df.attrs["report"].null_turns == 2


def test_words_containing_null_are_never_touched(tmp_path):
    path = _write(tmp_path, [_row(response_a='["a nullable column is null-safe; null"]')])
    assert load_competition_csv(path)["response_a"][0] == ["a nullable column is null-safe; null"]


def test_lone_surrogate_is_replaced_alone_and_row_marked(tmp_path):
    path = _write(tmp_path, [_row(response_a='["smile \\ud83d here and a pair \\ud83d\\ude00 kept"]'), _row(id=2)])
    df = load_competition_csv(path)
    text = df["response_a"][0][0]
    assert text == "smile \ufffd here and a pair \U0001F600 kept"
    text.encode("utf-8")
    assert df["encode_fail"].tolist() == [True, False]


def test_missing_column_names_file_and_column(tmp_path):
    row = _row()
    del row["response_b"]
    with pytest.raises(DataError, match=r"train.csv.*missing train column\(s\) \['response_b'\]"):
        load_competition_csv(_write(tmp_path, [row]))


@pytest.mark.parametrize("cell, reason", [
    ("['single', 'quotes']", "Python literal"),
    ('"just a string"', "expected a JSON list"),
    ('["ok", 3]', "turn 1 is int"),
    ('[NaN]', "turn 0 is float"),
    ("", "empty or missing cell"),
    ("NaN", "empty or missing cell"),
    ('{"a": 1}', "expected a JSON list"),
])
def test_malformed_text_field_names_row_and_column(tmp_path, cell, reason):
    path = _write(tmp_path, [_row(id=7), _row(id=42, response_b=cell)])
    with pytest.raises(DataError) as err:
        load_competition_csv(path)
    message = str(err.value)
    assert "row id 42" in message and "'response_b'" in message and reason in message and "train.csv" in message


def test_labels_must_be_exactly_one_hot(tmp_path):
    path = _write(tmp_path, [_row(id=5, winner_model_a=1, winner_model_b=1, winner_tie=0)])
    with pytest.raises(DataError, match="row id 5.*not exactly one-hot"):
        load_competition_csv(path)
    path = _write(tmp_path, [_row(id=6, winner_model_a=2, winner_model_b=0, winner_tie=0)])
    with pytest.raises(DataError, match="row id 6.*winner_model_a.*not 0 or 1"):
        load_competition_csv(path)


def test_duplicate_ids_in_test_are_rejected(tmp_path):
    rows = [{"id": 9, "prompt": '["p"]', "response_a": '["a"]', "response_b": '["b"]'}] * 2
    with pytest.raises(DataError, match="test.csv.*duplicate ids \\[9, 9\\]"):
        load_competition_csv(_write(tmp_path, rows, "test.csv"))


def test_non_utf8_bytes_name_the_row(tmp_path):
    path = _write(tmp_path, [_row(id=1), _row(id=77, response_a='["caf_"]')])
    raw = path.read_bytes().replace(b"caf_", b"caf\xe9")
    path.write_bytes(raw)
    with pytest.raises(DataError, match="row id 77.*'response_a'.*not valid UTF-8"):
        load_competition_csv(path)


def test_odd_but_valid_values_are_kept_and_counted(tmp_path):
    long = "x" * 100_000
    rows = [_row(id=1, response_a=json.dumps([long])), _row(id=2, response_a='[""]'),
            _row(id=3, response_a='["same"]', response_b='["same"]')]
    df = load_competition_csv(_write(tmp_path, rows))
    report = df.attrs["report"]
    assert len(df) == 3 and len(df["response_a"][0][0]) == 100_000
    assert report.empty_responses == 1 and report.identical_responses == 1 and report.long_texts == 1


def test_non_strict_mode_skips_bad_rows_and_reports_their_ids(tmp_path):
    rows = [_row(id=1), _row(id=2, prompt="['py']"), _row(id=3), _row(id=4, winner_tie=1)]
    df = load_competition_csv(_write(tmp_path, rows), strict=False)
    assert df["id"].tolist() == [1, 3]
    assert sorted(df.attrs["report"].skipped) == [2, 4]
    assert "2 skipped (ids 2, 4)" in df.attrs["report"].summary()


def test_parse_turns_never_evaluates_code():
    with pytest.raises(ValueError):
        parse_turns("[__import__('os').system('echo pwned')]")


def test_missing_file_is_a_named_error(tmp_path):
    with pytest.raises(DataError, match="nothere.csv: file not found"):
        load_competition_csv(tmp_path / "nothere.csv")
