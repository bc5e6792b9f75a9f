"""Feature extraction (lmsys.gbm.features): layout, swap permutation, what each feature family detects."""

import numpy as np
import pandas as pd
import pytest

from lmsys.data import load_competition_csv
from lmsys.gbm.features import SIDE_FEATURES, TfidfState, build_features, feature_names, swap_features
from lmsys.data import swap_frame
from conftest import REAL_TRAIN_PATH

TRAIN = REAL_TRAIN_PATH


@pytest.fixture(scope="module")
def real(real_data):
    return load_competition_csv(TRAIN).head(120).reset_index(drop=True)


def rows(*triples):
    return pd.DataFrame({"id": range(len(triples)), "prompt": [[t[0]] for t in triples],
                         "response_a": [[t[1]] for t in triples], "response_b": [[t[2]] for t in triples]})


def col(x, name):
    return x[:, feature_names().index(name)]


def test_matrix_has_one_finite_column_per_feature_name(real_data, real):
    x = build_features(real, TfidfState.fit(real))
    assert x.shape == (len(real), len(feature_names()))
    assert len(set(feature_names())) == len(feature_names())
    assert np.isfinite(x).all()


def test_swapped_rows_features_are_the_column_permutation_of_the_originals(real_data, real):
    tfidf = TfidfState.fit(real)
    x, xs = build_features(real, tfidf), build_features(swap_frame(real), tfidf)
    np.testing.assert_array_equal(swap_features(x), xs)
    assert not np.array_equal(x, xs)  # the permutation is not the identity on real rows


def test_swap_frame_swaps_responses_models_and_labels(real_data, real):
    s = swap_frame(real)
    assert s["response_a"].tolist() == real["response_b"].tolist()
    assert s["model_b"].tolist() == real["model_a"].tolist()
    assert (s["class_label"].to_numpy() == np.array([1, 0, 2])[real["class_label"].to_numpy()]).all()
    assert (s.loc[real["class_label"] == 0, "class_name"] == "winner_model_b").all()


def test_markdown_structure_and_refusals_are_counted_per_side():
    md = "# Title\n\n- one\n- two\n1. first\n```python\nx = 1\n```\nSome **bold** text."
    refusal = "I'm sorry, but as an AI language model I cannot help with that."
    x = build_features(rows(("write code", md, refusal)), TfidfState.fit(rows(("a b", "a c", "b c"))))
    assert col(x, "a_headers")[0] == 1 and col(x, "a_bullets")[0] == 2 and col(x, "a_numbered")[0] == 1
    assert col(x, "a_code_blocks")[0] == 1 and col(x, "a_bold")[0] == 1
    assert col(x, "b_headers")[0] == 0 and col(x, "b_code_blocks")[0] == 0
    assert col(x, "b_refusals")[0] >= 2 and col(x, "a_refusals")[0] == 0
    assert col(x, "diff_chars")[0] == len(md) - len(refusal)
    assert col(x, "logratio_chars")[0] == pytest.approx(np.log1p(len(md)) - np.log1p(len(refusal)), rel=1e-5)


def test_identical_and_empty_responses_are_flagged():
    x = build_features(rows(("q", "same answer", "same answer"), ("q", "", "an answer"), ("q", "x", "y")),
                       TfidfState.fit(rows(("q", "answer", "same"))))
    assert col(x, "identical").tolist() == [1, 0, 0]
    assert col(x, "any_empty").tolist() == [0, 1, 0]
    assert col(x, "a_is_empty").tolist() == [0, 1, 0]
    assert col(x, "both_empty").tolist() == [0, 0, 0]


def test_tfidf_similarity_is_higher_for_the_response_that_echoes_the_prompt():
    frame = rows(("how do I bake sourdough bread", "To bake sourdough bread, feed the starter first.",
                  "The weather is nice today."),
                 ("sourdough starter feeding", "bread", "weather"))
    x = build_features(frame, TfidfState.fit(frame))
    assert col(x, "a_tfidf_prompt")[0] > col(x, "b_tfidf_prompt")[0] == 0
    assert col(x, "a_jaccard")[0] > col(x, "b_jaccard")[0]


def test_a_rows_features_do_not_depend_on_the_rows_built_with_it(real_data, real):
    tfidf = TfidfState.fit(real)
    alone = build_features(real.iloc[[5]].reset_index(drop=True), tfidf)
    np.testing.assert_array_equal(alone[0], build_features(real, tfidf)[5])


def test_tfidf_state_survives_its_json_form(real_data, real):
    tfidf = TfidfState.fit(real)
    again = TfidfState.from_dict(tfidf.to_dict())
    np.testing.assert_array_equal(build_features(real, tfidf), build_features(real, again))


def test_a_text_cell_that_is_not_a_list_of_turns_names_the_row_and_column():
    bad = rows(("q", "a", "b"))
    bad["id"] = [777]
    bad.at[0, "response_b"] = "b"
    with pytest.raises(ValueError, match=r"row id 777, column 'response_b'"):
        build_features(bad, TfidfState.fit(rows(("q", "a", "b"))))


def test_missing_text_column_is_named():
    with pytest.raises(ValueError, match="response_a"):
        build_features(pd.DataFrame({"prompt": [["q"]]}), TfidfState({"q": 0}, [1.0]))


def test_multi_turn_rows_count_turns(real_data, real):
    multi = real[real["prompt"].map(len) > 1].head(3).reset_index(drop=True)
    assert len(multi)
    x = build_features(multi, TfidfState.fit(real))
    assert (col(x, "prompt_turns") == multi["prompt"].map(len).to_numpy()).all()
    assert len(SIDE_FEATURES) == len(set(SIDE_FEATURES))
