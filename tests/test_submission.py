import numpy as np
import pandas as pd
import pytest

from lmsys.evaluate.submission import SubmissionError, make_submission, validate_file, validate_submission, write_submission
from conftest import REAL_TEST_PATH

IDS = np.array([136060, 211333, 1233961])


def _good():
    return make_submission(IDS, [[0.5, 0.3, 0.2], [0.1, 0.1, 0.8], [1 / 3, 1 / 3, 1 / 3]])


def test_a_good_submission_passes_and_is_written(real_data, tmp_path):
    out = tmp_path / "sub" / "submission.csv"
    write_submission(_good(), out, IDS)
    assert pd.read_csv(out).columns.tolist() == ["id", "winner_model_a", "winner_model_b", "winner_tie"]
    assert validate_file(out, REAL_TEST_PATH) is not None


def _broken(kind):
    sub = _good()
    if kind == "columns":
        return sub.rename(columns={"winner_tie": "tie"})
    if kind == "order":
        return sub.iloc[[1, 0, 2]].reset_index(drop=True)
    if kind == "missing_row":
        return sub.iloc[:2]
    if kind == "wrong_id":
        sub.loc[2, "id"] = 5
        return sub
    if kind == "fractional_id":
        sub["id"] = sub["id"].astype(float)
        sub.loc[1, "id"] = 211333.5
        return sub
    if kind == "nan":
        sub.loc[1, "winner_model_a"] = np.nan
        return sub
    if kind == "inf":
        sub.loc[1, "winner_model_b"] = np.inf
        return sub
    if kind == "negative":
        sub.loc[0, ["winner_model_a", "winner_model_b", "winner_tie"]] = [-0.1, 0.6, 0.5]
        return sub
    if kind == "sum":
        sub.loc[2, "winner_tie"] = 0.34
        return sub
    if kind == "text":
        sub["winner_tie"] = sub["winner_tie"].astype(object)
        sub.loc[0, "winner_tie"] = "abc"
        return sub
    raise AssertionError(kind)


@pytest.mark.parametrize("kind, message", [
    ("columns", "expected exactly"), ("order", "row 0: id 211333"), ("missing_row", "2 rows, but"),
    ("wrong_id", "row 2: id 5"), ("fractional_id", "row 1: id 211333.5"), ("nan", "row 1 .*winner_model_a.*not a finite"), ("inf", "row 1 .*winner_model_b"),
    ("negative", "row 0 .*outside"), ("sum", "row 2 .*sum to"), ("text", "row 0 .*'abc'"),
])
def test_each_malformed_submission_is_rejected_and_nothing_is_written(tmp_path, kind, message):
    sub = _broken(kind)
    with pytest.raises(SubmissionError, match=message):
        validate_submission(sub, IDS)
    out = tmp_path / "submission.csv"
    out.write_text("previous good file")
    with pytest.raises(SubmissionError):
        write_submission(sub, out, IDS)
    assert out.read_text() == "previous good file"
    assert [p.name for p in tmp_path.iterdir()] == ["submission.csv"]


def test_validate_file_reports_an_unreadable_file(real_data, tmp_path):
    bad = tmp_path / "s.csv"
    bad.write_bytes(b"")
    with pytest.raises(SubmissionError, match="not a readable CSV"):
        validate_file(bad, REAL_TEST_PATH)
