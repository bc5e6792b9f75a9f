"""A faster DeBERTa-v3 disentangled self-attention for the JAX backend, weight-compatible with keras-hub's.

keras-hub 0.32 computes the content-to-position (c2p) and position-to-content (p2c) scores as a
(B, H, L, 2k) product followed by `take_along_axis` over a (B, H, L, L) index, twice per layer;
at 512 tokens these gathers dominate a training step. The relative index depends only on the
distance i - j, so here the 2k relative projections are first gathered to all 2L-1 distances (a
tiny gather on a (B, 2L-1, H, D) tensor), multiplied once, and moved into place with the exact
Transformer-XL relative shift (pad/reshape, no index tensor). c2p + p2c then enter
`jax.nn.dot_product_attention` as an additive bias. The layer subclasses keras-hub's, so it
creates exactly the same variables with the same names: presets and checkpoints load unchanged
either way, and the attention choice is not stored in any preset (config.attention decides).

Semantics are keras-hub's: scale 1/sqrt(3 * head_dim) on all three terms, the same log-bucketed
relative positions (computed by keras-hub's own method), the same masking (masked logits replaced by
a large negative number, so a fully masked row is uniform in both), dropout on the relative
embeddings. One difference is configurable: `jax.nn.dot_product_attention` cannot drop out attention
probabilities. With `attention_dropout=True` (the default) a training call with dropout > 0 takes
an explicit softmax + dropout path (keras-hub's behaviour, still without the (B,H,L,L) gathers);
with `attention_dropout=False` training skips dropout on the attention probabilities only (all
other dropouts stay) and keeps the fused call. Inference never drops out, so it always takes the
fused call; so do dropout == 0 models. float16 on CPU (never chosen by lmsys.devices.precision) also takes
the explicit path: JAX's fused call requests float16 dots with float32 accumulation, which CPU XLA
rejects. `implementation` picks jax's kernel: None (jax 0.10 resolves it to XLA) or "cudnn" (cuDNN
flash attention on GPU, float16/bfloat16 only).
"""

from __future__ import annotations

import contextlib

import numpy as np

IMPLEMENTATIONS = ("keras_hub", "fast")


def _keras_hub_attention_class():
    from keras_hub.src.models.deberta_v3.disentangled_self_attention import DisentangledSelfAttention

    return DisentangledSelfAttention


def relative_shift(x):
    """(..., L, 2L-1) -> (..., L, L) with out[..., i, j] = x[..., i, L-1-i+j] (Transformer-XL shift).

    Column m of `x` holds distance i - j = L-1-m. Flattening the last two axes and re-cutting rows
    of length 2L-2 after dropping L-1 leading entries moves each row one step left: exact, no index.
    """
    import jax.numpy as jnp

    length, width = x.shape[-2], x.shape[-1]
    if width != 2 * length - 1:
        raise ValueError(f"relative_shift: last axis must be 2L-1 = {2 * length - 1}, got shape {x.shape}")
    if length == 1:
        return x
    lead = x.shape[:-2]
    flat = jnp.reshape(x, lead + (length * width,))
    flat = flat[..., length - 1: length - 1 + length * (width - 1)]
    return jnp.reshape(flat, lead + (length, width - 1))[..., :length]


def _fast_class():
    """Built lazily so importing lmsys.siamese.attention needs neither keras-hub nor JAX."""
    global _FAST_CLASS
    if _FAST_CLASS is not None:
        return _FAST_CLASS
    import jax
    import jax.numpy as jnp
    from keras import ops

    base = _keras_hub_attention_class()

    class FastDisentangledSelfAttention(base):
        """keras-hub's DisentangledSelfAttention with gather-free relative terms and a fused softmax."""

        # Class-level switches: each combination is its own subclass (see fast_attention_class), not
        # layer config, so presets stay identical to keras-hub's and config.json stays the one source of truth.
        attention_dropout = True
        implementation = None  # passed to jax.nn.dot_product_attention: None (XLA today) or "cudnn"

        def _relative_indices(self, length):
            """Bucket indices for distances L-1, L-2, ..., -(L-1) (c2p and p2c), keras-hub's own bucketing."""
            distances = ops.convert_to_tensor(np.arange(length - 1, -length, -1, dtype=np.int32))
            buckets = self._make_log_bucket_position(distances)
            span = self.bucket_size
            c2p = ops.clip(buckets + span, 0, span * 2 - 1)
            p2c = ops.clip(-buckets + span, 0, span * 2 - 1)
            return c2p, p2c

        def _relative_bias(self, query, key, rel_embeddings):
            """(c2p + p2c) * scale as a (B, H, L, L) tensor, without (B, H, L, L) index gathers."""
            length = query.shape[1]
            c2p_idx, p2c_idx = self._relative_indices(length)
            pos_query = self._query_dense(rel_embeddings)  # (B, 2k, H, D)
            pos_key = self._key_dense(rel_embeddings)
            # (B, 2L-1, H, D): the projection for every distance, then one product per distance.
            pos_key = jnp.take(pos_key, c2p_idx, axis=1)
            pos_query = jnp.take(pos_query, p2c_idx, axis=1)
            c2p = relative_shift(jnp.einsum("bqhd,bmhd->bhqm", query, pos_key))
            # p2c is indexed by key row j and distance j - i, then transposed to (i, j).
            p2c = relative_shift(jnp.einsum("bkhd,bmhd->bhkm", key, pos_query))
            p2c = jnp.swapaxes(p2c, -1, -2)
            return (c2p + p2c) * jnp.asarray(self.scale_factor, dtype=c2p.dtype)

        def _compute_attention(self, query, key, value, rel_embeddings, attention_mask=None,
                               training=None, return_attention_scores=False):
            rel_embeddings = self._position_dropout_layer(rel_embeddings, training=training)
            bias = self._relative_bias(query, key, rel_embeddings)
            drop_probs = bool(training) and self.dropout > 0 and self.attention_dropout
            # jax's fused call asks for F16_F16_F32 dots, which CPU XLA rejects in the backward pass
            cpu_float16 = query.dtype == jnp.float16 and jax.default_backend() == "cpu"
            if drop_probs or return_attention_scores or cpu_float16:
                # Explicit path: keras-hub's masked float32 softmax and probability dropout.
                scores = jnp.einsum("bkhd,bqhd->bhqk", key, query)
                scores = scores * jnp.asarray(self.scale_factor, dtype=scores.dtype) + bias
                probs = self._masked_softmax(scores, attention_mask)
                probs = self._attn_dropout_layer(probs, training=training)
                output = jnp.einsum("bhqk,bkhd->bqhd", probs, value)
                return output, probs
            mask = None
            if attention_mask is not None:
                mask = jnp.asarray(attention_mask)
                if mask.dtype != jnp.bool_:
                    mask = mask > 0.5  # keras.layers.Softmax's rule
                while mask.ndim < 4:
                    mask = jnp.expand_dims(mask, -3)
            output = jax.nn.dot_product_attention(
                query, key, value, bias=bias.astype(query.dtype), mask=mask,
                scale=self.scale_factor, implementation=self.implementation)
            return output, None

        def call(self, inputs, rel_embeddings, attention_mask=None, return_attention_scores=False,
                 training=None):
            query = self._query_dense(inputs)
            key = self._key_dense(inputs)
            value = self._value_dense(inputs)
            output, probs = self._compute_attention(
                query, key, value, rel_embeddings, attention_mask=attention_mask, training=training,
                return_attention_scores=return_attention_scores)
            output = jnp.reshape(output, output.shape[:2] + (self.hidden_dim,))
            output = self._output_dense(output)
            if return_attention_scores:
                return output, probs
            return output

    _FAST_CLASS = FastDisentangledSelfAttention
    return _FAST_CLASS


_FAST_CLASS = None
_VARIANTS: dict = {}


def fast_attention_class(attention_dropout: bool = True, implementation=None):
    """The fast layer class with the given switches (see the module docstring).

    One cached subclass per combination, so building a model with other switches never changes
    the behaviour of a model built earlier.
    """
    import keras

    if keras.config.backend() != "jax":
        raise RuntimeError(
            f"attention 'fast' needs the JAX backend (KERAS_BACKEND=jax); this process runs "
            f"{keras.config.backend()!r}. Use attention 'keras_hub' there.")
    if implementation not in (None, "xla", "cudnn"):
        raise ValueError(f"attention implementation {implementation!r}: expected None, 'xla' or 'cudnn'")
    base = _fast_class()
    switches = (bool(attention_dropout), implementation)
    if switches == (True, None):
        return base
    if switches not in _VARIANTS:
        name = f"{base.__name__}_{'drop' if switches[0] else 'nodrop'}_{implementation or 'auto'}"
        _VARIANTS[switches] = type(name, (base,), {"attention_dropout": switches[0], "implementation": implementation})
    return _VARIANTS[switches]


def kernel_for_device(kernel, platform: str, device_kind: str, policy: str):
    """The attention kernel this device can run: "cudnn" only on an Ampere-or-newer GPU in bfloat16/float16.

    config.json keeps what training asked for, and inference rebuilds from it: a model trained on an
    H100 with cuDNN flash attention must still predict on Kaggle's T4 (no cuDNN flash attention before
    Ampere) or on a CPU, so elsewhere the XLA kernel (same outputs) is used, with a warning.
    """
    from lmsys.devices.precision import policy_for_device

    if not kernel or kernel == "xla":
        return None
    if kernel != "cudnn":
        raise ValueError(f"attention_kernel {kernel!r}: expected '', 'xla' or 'cudnn'")
    modern_gpu = platform.lower() in ("gpu", "cuda") and policy_for_device(platform, device_kind) == "mixed_bfloat16"
    if modern_gpu and policy != "float32":
        return "cudnn"
    import warnings

    warnings.warn(f"attention_kernel 'cudnn' needs an Ampere-or-newer GPU in bfloat16/float16; this is "
                  f"{platform}:{device_kind or '?'} in {policy}: using the XLA kernel (same outputs)")
    return None


def _check_name(name: str) -> None:
    if name not in IMPLEMENTATIONS:
        raise ValueError(f"unknown attention implementation {name!r}: expected one of {list(IMPLEMENTATIONS)}")


@contextlib.contextmanager
def attention_implementation(name: str, attention_dropout: bool = True, implementation=None):
    """Inside this, DebertaV3Backbone(...) and .from_preset(dir) build with the named attention.

    keras-hub's encoder looks up `DisentangledSelfAttention` in its module when it builds, so the
    name is swapped there for the duration. Build (or load) inside the block; a built model keeps
    its class afterwards. Models deserialized later outside the block get keras-hub's layer: use
    `set_attention(model, name)` on those.
    """
    _check_name(name)
    if name == "keras_hub":
        yield
        return
    from keras_hub.src.models.deberta_v3 import disentangled_attention_encoder as encoder_module

    cls = fast_attention_class(attention_dropout=attention_dropout, implementation=implementation)
    original = encoder_module.DisentangledSelfAttention
    encoder_module.DisentangledSelfAttention = cls
    try:
        yield
    finally:
        encoder_module.DisentangledSelfAttention = original


def set_attention(model, name: str, attention_dropout: bool = True, implementation=None) -> int:
    """Switch every disentangled attention layer of a built model in place; returns how many.

    Safe because the fast class adds no variables and no state: only the computation changes.
    Call before the first fit/predict (JAX traces the call when it compiles).
    """
    _check_name(name)
    base = _keras_hub_attention_class()
    target = base if name == "keras_hub" else fast_attention_class(attention_dropout, implementation)
    count = 0
    for layer in model._flatten_layers(include_self=True, recursive=True):
        if isinstance(layer, base):
            layer.__class__ = target
            count += 1
    return count
