"""The Siamese head's length features: counted on the whole responses (what truncation hides from the encoder),
kept in the order training used after config.json sorts its keys, read by the head, and a fresh head that starts
at the class prior."""

import numpy as np
import pytest

from conftest import random_head


def test_length_features_count_the_whole_response_not_the_truncated_tokens(tiny_parts, tiny_texts):
    from lmsys.siamese.lengths import LENGTH_FEATURES
    from lmsys.siamese.tokens import tokenize_pairs

    config, tokenizer, _ = tiny_parts
    config = config.replace(sequence_length=32, buckets=[16])
    df = tiny_texts[0].head(30)
    pairs = tokenize_pairs(df, config, tokenizer, progress=False)
    chars = np.array([len("\n".join(turns)) for turns in df["response_b"]])
    center, scale = LENGTH_FEATURES["chars"]
    assert list(config.length_features) == list(LENGTH_FEATURES)
    np.testing.assert_allclose(pairs.lengths_b[:, 0], (np.log1p(chars) - center) / scale, rtol=1e-5)
    assert max(map(len, pairs.b)) <= 32 and chars.max() > 32 * 10  # the tokens were cut, the counts were not
    swapped = pairs.swapped()
    np.testing.assert_array_equal(swapped.lengths_a, pairs.lengths_b)
    np.testing.assert_array_equal(pairs.take([3, 1]).lengths_b, pairs.lengths_b[[3, 1]])


def test_length_features_keep_the_training_order_after_config_json_sorts_its_keys(tiny_texts, tmp_path):
    from lmsys.config import Config
    from lmsys.siamese.lengths import response_lengths

    spec = {"words": [4.0, 1.0], "chars": [6.0, 2.0], "lines": [1.0, 1.5]}  # not alphabetical, not the default order
    trained = Config(length_features=spec)
    trained.save(tmp_path)
    loaded = Config.load(tmp_path)
    assert list(loaded.length_features) != list(spec)  # the file sorted them
    df = tiny_texts[0].head(10)
    for before, after in zip(response_lengths(df, spec), response_lengths(df, loaded.length_features)):
        np.testing.assert_array_equal(before, after)


def test_without_length_features_the_pairs_carry_none_and_the_head_is_as_before(tiny_parts, tiny_texts):
    from lmsys.siamese.model import build_classifier
    from lmsys.siamese.tokens import tokenize_pairs

    config, tokenizer, backbone = tiny_parts
    config = config.replace(length_features={})
    pairs = tokenize_pairs(tiny_texts[0].head(4), config, tokenizer, progress=False)
    assert pairs.lengths_a is None and pairs.length_features([0, 1]) is None
    model = build_classifier(config, backbone)
    assert tuple(model.head.kernel.shape) == (2 * backbone.hidden_dim, 3)  # what models before the features saved


def test_the_head_reads_each_options_lengths_and_a_missing_input_is_named(tiny_parts, tiny_texts):
    from lmsys.siamese.batching import pad_batch
    from lmsys.siamese.model import build_classifier
    from lmsys.siamese.tokens import tokenize_pairs

    config, tokenizer, backbone = tiny_parts
    model = random_head(build_classifier(config, backbone), seed=3)
    model.set_inference("plain")
    assert tuple(model.head.kernel.shape) == (2 * (backbone.hidden_dim + 3), 3)
    pairs = tokenize_pairs(tiny_texts[0].head(6), config, tokenizer, progress=False)
    batch = pad_batch(pairs, np.arange(6), config.sequence_length)
    base = np.asarray(model.predict_on_batch(batch))
    longer_a = {**batch, "lengths": batch["lengths"] + np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]], "float32")}
    assert np.abs(np.asarray(model.predict_on_batch(longer_a)) - base).min() > 1e-4  # every row moved
    with pytest.raises(ValueError, match="'lengths'"):
        model({k: v for k, v in batch.items() if k != "lengths"})
    model.set_inference("tta")


def test_a_fresh_head_predicts_the_class_prior_for_every_row(tiny_parts, tiny_texts):
    from lmsys.siamese.model import build_classifier
    from lmsys.siamese.predict import predict_pairs
    from lmsys.siamese.tokens import tokenize_pairs

    config, tokenizer, backbone = tiny_parts
    model = build_classifier(config, backbone)
    model.set_inference("plain")
    prior = np.array([0.36, 0.34, 0.30])
    model.start_at_prior(prior)
    probs = predict_pairs(model, tokenize_pairs(tiny_texts[0].head(12), config, tokenizer, progress=False), config)
    np.testing.assert_allclose(probs, np.tile(prior, (12, 1)), atol=1e-6)


@pytest.mark.parametrize("value, message", [
    ('{"chars": [6.5, 0]}', r"length_features: chars: expected \[center, scale\] with scale > 0"),
    ('{"tokens": [6.5, 1]}', r"length_features: unknown feature 'tokens'; known: chars, words, lines"),
    ('[1, 2]', r"length_features: expected a JSON dict"),
])
def test_a_bad_length_features_setting_is_one_line_naming_the_key(value, message):
    from lmsys.config import Config, check_values, parse_overrides

    with pytest.raises(ValueError, match=message):
        check_values(Config(**parse_overrides([f"length_features={value}"])))
