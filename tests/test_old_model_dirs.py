"""Model directories written before the model-families registry (commit 7d28825) still load and predict
exactly as they did then. tests/fixtures/pre_registry/ holds a tiny Siamese and a small features model
trained by that code, and the probabilities that code gave for the first 20 built-in sample test rows."""

import os

import numpy as np
import pytest

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "pre_registry")


@pytest.fixture(scope="module")
def sample_test_rows(tmp_path_factory):
    from lmsys.data import load_competition_csv
    from lmsys.data.sample import write_sample

    d = tmp_path_factory.mktemp("sample")
    write_sample(d, n_train=50)
    return load_competition_csv(os.path.join(d, "test.csv")).head(20)


@pytest.mark.parametrize("name", ["siamese-tiny", "features"])
def test_a_model_dir_saved_before_the_registry_predicts_as_it_did(name, sample_test_rows):
    from lmsys.models import predict_proba

    expected = np.loadtxt(os.path.join(FIXTURES, f"{name}.expected.csv"), delimiter=",")
    got = predict_proba(os.path.join(FIXTURES, name), sample_test_rows, verbose=0)
    assert got.shape == expected.shape == (20, 3)
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_the_retired_pooling_key_loads_only_with_the_behaviour_kept(tmp_path):
    import json

    from lmsys.config import Config

    values = json.load(open(os.path.join(FIXTURES, "siamese-tiny", "config.json")))
    assert values["pooling"] == "masked_mean"
    assert Config.from_dict(values).sequence_length == 64
    with pytest.raises(ValueError, match="pooling='cls' is no longer supported"):
        Config.from_dict({**values, "pooling": "cls"}, source="x")
