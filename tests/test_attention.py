"""The fast disentangled attention equals keras-hub's on the same weights (CPU, float32)."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np
import pytest

keras = pytest.importorskip("keras")
keras_hub = pytest.importorskip("keras_hub")
if keras.config.backend() != "jax":
    pytest.skip("the fast attention is JAX-only", allow_module_level=True)

import jax
from keras_hub.src.models.deberta_v3 import disentangled_attention_encoder as encoder_module
from keras_hub.src.models.deberta_v3.disentangled_self_attention import DisentangledSelfAttention

from lmsys.siamese.attention import attention_implementation, fast_attention_class, relative_shift, set_attention

TOL = 1e-5


def rel_err(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.abs(a - b).max() / max(np.abs(a).max(), 1e-30)


def padding_mask(batch, length):
    """Row 0 full, row 1 half padded, row 2 three padded positions (at least one real token each)."""
    mask = np.ones((batch, length), "int32")
    mask[1, max(1, length // 2):] = 0
    mask[2, max(1, length - 3):] = 0
    return mask


def layer_pair(bucket_size, dropout=0.0, hidden=64, heads=2, batch=3, length=8, attention_dropout=True,
               dtype=None):
    kwargs = dict(num_heads=heads, hidden_dim=hidden, max_position_embeddings=512, bucket_size=bucket_size,
                  dropout=dropout, dtype=dtype)
    ref, fast = DisentangledSelfAttention(**kwargs), fast_attention_class(attention_dropout)(**kwargs)
    ref.build((batch, length, hidden))
    fast.build((batch, length, hidden))
    fast.set_weights(ref.get_weights())
    return ref, fast


def jit_call(layer, x, rel, mask, **kwargs):
    """One compiled call: eager op-by-op dispatch is several times slower on these shapes."""
    return jax.jit(lambda x, rel, mask: layer(x, rel_embeddings=rel, attention_mask=mask, **kwargs))(x, rel, mask)


def layer_inputs(batch, length, bucket_size, hidden=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, length, hidden)).astype("float32")
    rel = rng.normal(size=(batch, 2 * bucket_size, hidden)).astype("float32")
    return x, rel, padding_mask(batch, length)[:, None, :]


def test_relative_shift_puts_distance_i_minus_j_at_row_i_column_j():
    length = 6
    # column m of row i holds the value 100*i + distance, distance = L-1-m
    x = np.array([[100 * i + (length - 1 - m) for m in range(2 * length - 1)] for i in range(length)])
    expected = np.array([[100 * i + (i - j) for j in range(length)] for i in range(length)])
    np.testing.assert_array_equal(np.asarray(relative_shift(x)), expected)
    with pytest.raises(ValueError, match="2L-1"):
        relative_shift(np.zeros((4, 4)))


@pytest.mark.parametrize("length,bucket_size", [(1, 16), (7, 16), (37, 16), (101, 16), (45, 64), (131, 64)])
def test_fast_layer_matches_keras_hub_with_padding(length, bucket_size):
    ref, fast = layer_pair(bucket_size)
    x, rel, mask = layer_inputs(3, length, bucket_size)
    expected, ref_probs = jit_call(ref, x, rel, mask, return_attention_scores=True)
    assert rel_err(expected, jit_call(fast, x, rel, mask)) < TOL
    # the explicit path (used for attention-probability dropout) returns the same probabilities
    out, probs = jit_call(fast, x, rel, mask, return_attention_scores=True)
    assert rel_err(expected, out) < TOL
    assert rel_err(ref_probs, probs) < TOL


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_fast_layer_runs_under_mixed_precision_within_its_rounding(policy):
    ref, fast = layer_pair(16, dtype=policy)
    x, rel, mask = layer_inputs(3, 40, 16)
    expected = jit_call(ref, x, rel, mask)
    out = jit_call(fast, x, rel, mask)
    assert out.dtype == expected.dtype
    assert rel_err(expected, out) < 3e-2  # bfloat16 keeps 8 bits of mantissa


def test_attention_dropout_switch_picks_explicit_or_fused_path(monkeypatch):
    calls = []
    real = jax.nn.dot_product_attention
    monkeypatch.setattr(jax.nn, "dot_product_attention", lambda *a, **k: calls.append(1) or real(*a, **k))
    x, rel, mask = layer_inputs(3, 20, 16)
    for attention_dropout, training, fused in [(True, True, False), (False, True, True), (True, False, True)]:
        calls.clear()
        _, fast = layer_pair(16, dropout=0.3, attention_dropout=attention_dropout)
        out = jit_call(fast, x, rel, mask, training=training)
        assert np.isfinite(np.asarray(out)).all()
        assert bool(calls) == fused, (attention_dropout, training)
    # switches live in separate subclasses: building one variant never changes another
    assert fast_attention_class(False) is fast_attention_class(False)
    assert fast_attention_class().attention_dropout and not fast_attention_class(False).attention_dropout


TINY = dict(vocabulary_size=1000, num_layers=2, num_heads=2, hidden_dim=64, intermediate_dim=128,
            max_sequence_length=512, dropout=0.0)


def backbone_pair(bucket_size):
    keras.utils.set_random_seed(1)
    ref = keras_hub.models.DebertaV3Backbone(bucket_size=bucket_size, **TINY)
    with attention_implementation("fast"):
        fast = keras_hub.models.DebertaV3Backbone(bucket_size=bucket_size, **TINY)
    fast.set_weights(ref.get_weights())
    return ref, fast


def token_inputs(batch, length, seed=0):
    rng = np.random.default_rng(seed)
    return {"token_ids": rng.integers(1, 1000, size=(batch, length)).astype("int32"),
            "padding_mask": padding_mask(batch, length)}


def attention_layers(model):
    return [l for l in model._flatten_layers() if isinstance(l, DisentangledSelfAttention)]


@pytest.mark.parametrize("bucket_size,lengths", [(16, (9, 50)), (64, (70, 131))])
def test_fast_backbone_matches_keras_hub_backbone(bucket_size, lengths):
    ref, fast = backbone_pair(bucket_size)
    assert all(type(l) is fast_attention_class() for l in attention_layers(fast))
    assert all(type(l) is DisentangledSelfAttention for l in attention_layers(ref))
    assert [w.path for w in ref.weights] == [w.path for w in fast.weights]
    for length in lengths:
        inputs = token_inputs(3, length)
        assert rel_err(ref.predict_on_batch(inputs), fast.predict_on_batch(inputs)) < TOL


def test_fast_backbone_gradients_match_keras_hub():
    ref, fast = backbone_pair(16)
    inputs = token_inputs(3, 40, seed=3)
    target = np.random.default_rng(4).normal(size=(3, 40, 64)).astype("float32")

    def grads(model):
        def loss(trainable):
            out, _ = model.stateless_call(trainable, [v.value for v in model.non_trainable_variables], inputs)
            return ((out - target) ** 2).mean()

        return jax.jit(jax.grad(loss))([v.value for v in model.trainable_variables])

    for g_ref, g_fast in zip(grads(ref), grads(fast)):
        assert rel_err(g_ref, g_fast) < 1e-4  # gradients sum many terms: a little looser than outputs


def test_presets_load_across_implementations(tmp_path):
    ref, fast = backbone_pair(16)
    inputs = token_inputs(3, 30)
    fast.save_to_preset(str(tmp_path / "fast"))
    ref.save_to_preset(str(tmp_path / "ref"))
    loaded_ref = keras_hub.models.DebertaV3Backbone.from_preset(str(tmp_path / "fast"))
    with attention_implementation("fast"):
        loaded_fast = keras_hub.models.DebertaV3Backbone.from_preset(str(tmp_path / "ref"))
    assert type(attention_layers(loaded_fast)[0]) is fast_attention_class()
    assert type(attention_layers(loaded_ref)[0]) is DisentangledSelfAttention
    expected = ref.predict_on_batch(inputs)
    assert rel_err(expected, loaded_ref.predict_on_batch(inputs)) < TOL
    assert rel_err(expected, loaded_fast.predict_on_batch(inputs)) < TOL


def test_set_attention_switches_a_built_model_both_ways():
    ref, _ = backbone_pair(16)
    inputs = token_inputs(3, 25)
    expected = ref.predict_on_batch(inputs)
    assert set_attention(ref, "fast") == 2
    assert type(attention_layers(ref)[0]) is fast_attention_class()
    assert set_attention(ref, "keras_hub") == 2
    assert type(attention_layers(ref)[0]) is DisentangledSelfAttention
    assert rel_err(expected, ref.predict_on_batch(inputs)) < TOL


def test_unknown_name_raises_and_context_restores_keras_hub_class():
    with pytest.raises(ValueError, match="unknown attention implementation 'flash'"):
        with attention_implementation("flash"):
            pass
    with pytest.raises(RuntimeError):
        with attention_implementation("fast"):
            raise RuntimeError("build failed")
    assert encoder_module.DisentangledSelfAttention is DisentangledSelfAttention
    with attention_implementation("keras_hub"):
        assert encoder_module.DisentangledSelfAttention is DisentangledSelfAttention


def test_fast_needs_jax_backend(monkeypatch):
    monkeypatch.setattr(keras.config, "backend", lambda: "tensorflow")
    with pytest.raises(RuntimeError, match="JAX backend"):
        with attention_implementation("fast"):
            pass


@pytest.mark.parametrize("platform, kind, policy, expected", [
    ("gpu", "NVIDIA H100 80GB HBM3", "mixed_bfloat16", "cudnn"),
    ("gpu", "NVIDIA A100-SXM4-40GB", "mixed_float16", "cudnn"),
    ("gpu", "Tesla T4", "mixed_float16", None),  # Kaggle's inference GPU: no cuDNN flash attention
    ("gpu", "NVIDIA H100 80GB HBM3", "float32", None),
    ("cpu", "cpu", "float32", None),
    ("tpu", "TPU v3", "mixed_bfloat16", None),
])
def test_cudnn_kernel_is_used_only_where_the_device_runs_it(platform, kind, policy, expected):
    import warnings

    from lmsys.siamese.attention import kernel_for_device

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert kernel_for_device("cudnn", platform, kind, policy) == expected
    assert bool(caught) == (expected is None)  # a fallback always says so
    assert kernel_for_device("", platform, kind, policy) is None
    with pytest.raises(ValueError, match="attention_kernel"):
        kernel_for_device("flash", platform, kind, policy)


def test_a_model_configured_for_cudnn_still_builds_and_predicts_on_this_cpu():
    import keras_hub

    from lmsys.siamese.backbone import attention_context
    from lmsys.config import Config

    config = Config(attention="fast", attention_kernel="cudnn")
    with pytest.warns(UserWarning, match="XLA kernel"):
        with attention_context(config):
            backbone = keras_hub.models.DebertaV3Backbone(vocabulary_size=100, num_layers=1, num_heads=2, hidden_dim=16,
                                                          intermediate_dim=32, max_sequence_length=32, bucket_size=8)
    ids = np.arange(20, dtype="int32").reshape(2, 10) % 100
    out = backbone({"token_ids": ids, "padding_mask": np.ones_like(ids)})
    assert np.isfinite(np.asarray(out)).all()
