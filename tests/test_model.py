import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import random_head


@pytest.fixture(scope="module")
def classifier(tiny_parts):
    from lmsys.siamese.model import build_classifier

    config, tokenizer, backbone = tiny_parts
    return random_head(build_classifier(config, backbone))


@pytest.fixture(autouse=True)
def _plain_inference_after_each_test(request):
    """Tests that switch the shared classifier's inference mode leave it as they found it."""
    yield
    if "classifier" in request.fixturenames:
        request.getfixturevalue("classifier").set_inference("tta")


@pytest.fixture(scope="module")
def real_pairs(tiny_parts, tiny_texts):
    from lmsys.siamese.tokens import tokenize_pairs

    config, tokenizer, _ = tiny_parts
    return tokenize_pairs(tiny_texts[0].head(40), config, tokenizer, progress=False)


def test_options_fit_the_sequence_length_with_cls_and_sep(tiny_parts, real_pairs):
    config, tokenizer, _ = tiny_parts
    lengths = real_pairs.lengths()
    assert lengths.max() <= config.sequence_length
    assert (lengths == config.sequence_length).any()  # long rows were cut to fit, not dropped
    for ids in real_pairs.a[:5]:
        assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id


def test_padding_contents_do_not_change_the_output(classifier, real_pairs):
    from lmsys.siamese.batching import pad_pairs

    x = pad_pairs(real_pairs, np.arange(8), 96)
    base = np.asarray(classifier.predict_on_batch(x))
    noisy = {k: v.copy() for k, v in x.items()}
    rng = np.random.default_rng(0)
    pad = ~noisy["padding_mask"]
    assert pad.any()
    noisy["token_ids"][pad] = rng.integers(5, 700, size=pad.sum())
    out = np.asarray(classifier.predict_on_batch(noisy))
    np.testing.assert_allclose(out, base, rtol=1e-5, atol=1e-6)
    longer = pad_pairs(real_pairs, np.arange(8), 128)  # more padding, same real tokens
    np.testing.assert_allclose(np.asarray(classifier.predict_on_batch(longer)), base, rtol=1e-4, atol=1e-5)


def test_swap_tta_output_swaps_a_and_b_when_the_input_is_swapped(tiny_parts, classifier, real_pairs):
    from lmsys.data import swap_columns as swap_ab
    from lmsys.siamese.predict import predict_pairs_with_tta

    config = tiny_parts[0]
    p = predict_pairs_with_tta(classifier, real_pairs, config, tta=True)
    q = predict_pairs_with_tta(classifier, real_pairs.swapped(), config, tta=True)
    np.testing.assert_allclose(q, swap_ab(p), atol=1e-6)
    plain = predict_pairs_with_tta(classifier, real_pairs, config, tta=False)
    assert not np.allclose(plain, swap_ab(predict_pairs_with_tta(classifier, real_pairs.swapped(), config, tta=False)))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)


def test_prediction_returns_rows_in_their_own_order(tiny_parts, classifier, real_pairs):
    from lmsys.siamese.predict import predict_pairs

    config = tiny_parts[0]
    whole = predict_pairs(classifier, real_pairs, config)
    order = np.random.default_rng(1).permutation(len(real_pairs))
    shuffled = predict_pairs(classifier, real_pairs.take(order), config)
    np.testing.assert_allclose(shuffled, whole[order], atol=1e-6)


def test_head_runs_in_float32_under_mixed_precision(tiny_parts, tiny_texts):
    import keras

    from lmsys.siamese.backbone import load_backbone
    from lmsys.siamese.model import build_classifier

    config, tokenizer, _ = tiny_parts
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = build_classifier(config, load_backbone("tiny", config, tokenizer))
    finally:
        keras.config.set_dtype_policy("float32")
    ids = np.ones((2, 2, 16), dtype="int32")
    lengths = np.zeros((2, 2, len(config.length_features)), dtype="float32")
    out = model({"token_ids": ids, "padding_mask": ids, "lengths": lengths})
    assert str(out.dtype) == "float32"
    assert model.backbone.compute_dtype == "bfloat16"
    np.testing.assert_allclose(np.asarray(out).sum(axis=1), 1.0, atol=1e-6)


def test_tiny_preset_saved_with_save_to_preset_loads_back_from_its_directory(tiny_parts, tmp_path):
    from lmsys.siamese.backbone import load_backbone, load_tokenizer, save_preset

    config, tokenizer, backbone = tiny_parts
    save_preset(tmp_path / "preset", backbone, tokenizer)
    assert {"config.json", "model.weights.h5", "tokenizer.json"} <= set(os.listdir(tmp_path / "preset"))
    tok2 = load_tokenizer(str(tmp_path / "preset"))
    bb2 = load_backbone(str(tmp_path / "preset"), config)
    assert list(tok2("Prompt: hello world")) == list(tokenizer("Prompt: hello world"))
    x = {"token_ids": np.array([[1, 20, 30, 2, 0]], "int32"), "padding_mask": np.array([[1, 1, 1, 1, 0]], "int32")}
    np.testing.assert_allclose(np.asarray(bb2(x)), np.asarray(backbone(x)), atol=1e-6)


def test_a_missing_local_preset_is_a_clear_error(tmp_path):
    from lmsys.siamese.backbone import load_tokenizer

    with pytest.raises(FileNotFoundError, match="not a keras-hub preset directory"):
        load_tokenizer(str(tmp_path / "nothing"))


def test_a_preset_name_that_cannot_download_says_what_to_do_offline(monkeypatch):
    import keras_hub

    from lmsys.siamese.backbone import load_tokenizer

    def offline(*args, **kwargs):  # what from_preset raises here: no route to Kaggle (never really tried)
        raise ConnectionError("Failed to resolve 'api.kaggle.com'")

    monkeypatch.setattr(keras_hub.models.Tokenizer, "from_preset", offline)
    with pytest.raises(RuntimeError, match="deberta_v3_extra_small_en.*need internet.*--preset tiny"):
        load_tokenizer("deberta_v3_extra_small_en")


def test_learning_rate_warms_up_then_decays_within_the_run(tiny_parts, classifier):
    from lmsys.siamese.model import compile_classifier

    config = tiny_parts[0].replace(learning_rate=1e-3, warmup_fraction=0.1, min_lr_fraction=0.05)
    compile_classifier(classifier, config, total_steps=100)
    schedule = classifier.optimizer.learning_rate if callable(classifier.optimizer.learning_rate) else \
        classifier.optimizer._learning_rate
    lr = [float(schedule(step)) for step in (0, 10, 50, 99, 100)]
    assert lr[0] < lr[1] and abs(lr[1] - 1e-3) < 1e-9  # warm-up reaches the peak at 10% of the steps
    assert lr[2] < lr[1] and lr[4] <= 1e-3 * 0.05 + 1e-9  # decays to the floor by the last step


def test_precision_follows_the_device():
    from lmsys.devices.precision import policy_for_device, resolve_precision

    assert policy_for_device("gpu", "Tesla T4") == "mixed_float16"
    assert policy_for_device("gpu", "Tesla P100-PCIE-16GB") == "mixed_float16"
    assert policy_for_device("gpu", "NVIDIA H100 80GB HBM3") == "mixed_bfloat16"
    assert policy_for_device("tpu", "TPU v3") == "mixed_bfloat16"
    assert policy_for_device("cpu", "cpu") == "float32"
    assert resolve_precision("auto") == "float32"  # this machine is a CPU
    assert resolve_precision("mixed_float16") == "mixed_float16"
    with pytest.raises(ValueError):
        resolve_precision("fp8")


def test_bucketing_pads_less_than_fixed_length_and_keeps_every_row(tiny_parts, real_pairs):
    from lmsys.siamese.batching import padded_fraction, prediction_plan, training_plan

    config = tiny_parts[0]
    fixed = config.replace(buckets=[])
    pair_level = config.replace(pad_each_option=False)
    assert padded_fraction(real_pairs, config) < padded_fraction(real_pairs, pair_level) < \
        padded_fraction(real_pairs, fixed)
    la, lb = real_pairs.option_lengths()
    for cfg in (config, pair_level):
        plan = prediction_plan(real_pairs, cfg)
        seen = np.concatenate([index[:real] for index, _, real in plan])
        assert sorted(seen.tolist()) == list(range(len(real_pairs)))
        for index, shape, _ in plan:
            short, long = (shape, shape) if np.isscalar(shape) else shape
            assert np.minimum(la, lb)[index].max() <= short and np.maximum(la, lb)[index].max() <= long
    rng = np.random.default_rng(0)
    plan = training_plan(real_pairs, config, rng)
    shapes = {shape for _, shape, _ in plan}
    n = len(config.buckets) + 1
    assert len(shapes) <= n * (n + 1) // 2
    trained = np.concatenate([index[:real] for index, _, real in plan])
    assert sorted(trained.tolist()) == list(range(len(real_pairs)))  # every row, once, every epoch


def test_split_form_gives_the_same_output_as_the_pair_form(tiny_parts, classifier, real_pairs):
    from lmsys.siamese.batching import pad_pairs, pad_split, row_shapes

    config = tiny_parts[0]
    shapes = row_shapes(real_pairs, config)
    groups = {}
    for i, shape in enumerate(shapes):
        groups.setdefault(shape, []).append(i)
    shape, rows = max(groups.items(), key=lambda kv: (kv[0][0] != kv[0][1], len(kv[1])))
    assert shape[0] < shape[1]  # a group whose two options have different padded lengths
    la, lb = real_pairs.option_lengths()
    a_long = [i for i in rows if la[i] > lb[i]][:4]
    b_long = [i for i in rows if la[i] <= lb[i]][:4]
    rows = np.asarray(a_long + b_long)
    split = pad_split(real_pairs, rows, shape)
    assert split["a_is_long"].any() and not split["a_is_long"].all()  # both orders are checked
    pair = pad_pairs(real_pairs, rows, config.sequence_length)
    np.testing.assert_allclose(np.asarray(classifier.predict_on_batch(split)),
                               np.asarray(classifier.predict_on_batch(pair)), rtol=1e-5, atol=1e-6)


def test_keras_runs_on_jax_without_any_environment_setting():
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    out = subprocess.run([sys.executable, "-c", "import lmsys, keras; print(keras.config.backend())"], env=env,
                         capture_output=True, text=True, timeout=120, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert out.stdout.strip().splitlines()[-1] == "jax", out.stderr[-2000:]


def test_swap_augmentation_exchanges_a_and_b_in_both_batch_forms(tiny_parts, classifier, real_pairs):
    from lmsys.siamese.batching import pad_batch, row_shapes, swap_sides
    from lmsys.data import swap_columns as swap_ab

    config = tiny_parts[0]
    rows = np.arange(8)
    flip = np.array([True, False] * 4)
    for shape in (config.sequence_length, max(row_shapes(real_pairs, config)[:8])):
        swapped_rows = np.asarray(classifier.predict_on_batch(pad_batch(real_pairs.swapped(), rows, shape)))
        plain = np.asarray(classifier.predict_on_batch(pad_batch(real_pairs, rows, shape)))
        augmented = np.asarray(classifier.predict_on_batch(swap_sides(pad_batch(real_pairs, rows, shape), flip)))
        np.testing.assert_allclose(augmented[flip], swapped_rows[flip], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(augmented[~flip], plain[~flip], rtol=1e-5, atol=1e-6)
        assert not np.allclose(swap_ab(plain[flip]), plain[flip])  # a real exchange, not a no-op


def test_one_pass_swap_tta_equals_the_two_pass_tta(tiny_parts, classifier, real_pairs):
    """Each option encoded once, the head on [A, B] and [B, A], gives what predicting the swapped rows gave."""
    from lmsys.data import swap_columns as swap_ab
    from lmsys.siamese.predict import predict_pairs, predict_pairs_with_tta

    config = tiny_parts[0]
    classifier.set_inference("plain")
    plain = predict_pairs(classifier, real_pairs, config)
    two_pass = 0.5 * (plain + swap_ab(predict_pairs(classifier, real_pairs.swapped(), config)))
    assert np.abs(two_pass - plain).max() > 1e-3  # the swap really changes the prediction
    one_pass = predict_pairs_with_tta(classifier, real_pairs, config, tta=True)
    np.testing.assert_allclose(one_pass, two_pass, rtol=0, atol=1e-6)
    classifier.set_inference("tta")  # what fit's validation computes, averaged in float32 inside the model
    np.testing.assert_allclose(predict_pairs(classifier, real_pairs, config), two_pass, rtol=0, atol=1e-6)
    np.testing.assert_allclose(predict_pairs_with_tta(classifier, real_pairs, config, tta=False), plain, atol=1e-7)


def test_validation_metrics_count_only_the_real_rows_of_a_padded_batch(tiny_parts, classifier, real_pairs):
    """Filler rows (weight 0) keep a batch's shape fixed; the log loss and accuracy Keras reports ignore them."""
    from lmsys.evaluate.metrics import log_loss
    from lmsys.siamese.batching import pad_batch
    from lmsys.siamese.model import compile_classifier

    config = tiny_parts[0].replace(label_smoothing=0.0)
    compile_classifier(classifier, config, total_steps=10)
    rows = np.r_[np.arange(6), np.zeros(10, dtype=int)]  # 6 real rows, then 10 repeats of row 0 as filler
    x = pad_batch(real_pairs, rows, config.sequence_length)
    labels = np.array([0, 1, 2, 0, 1, 2] + [2] * 10)
    y = np.eye(3, dtype="float32")[labels]
    weights = (np.arange(16) < 6).astype("float32")
    logs = classifier.evaluate(x, y, sample_weight=weights, batch_size=16, verbose=0, return_dict=True)
    probs = np.asarray(classifier.predict_on_batch(x), dtype=np.float64)[:6]
    assert abs(logs["log_loss"] - log_loss(labels[:6], probs)) < 1e-5, logs
    assert abs(logs["loss"] - logs["log_loss"]) < 1e-5, logs
    assert abs(logs["accuracy"] - np.mean(probs.argmax(1) == labels[:6])) < 1e-6, logs
    everything = log_loss(labels, np.asarray(classifier.predict_on_batch(x), dtype=np.float64))
    assert abs(everything - log_loss(labels[:6], probs)) > 1e-3  # counting the filler would have shown
