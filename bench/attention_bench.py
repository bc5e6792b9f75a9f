"""Time forward+backward of keras-hub's DeBERTa-v3 attention vs lmsys.siamese.attention's fast one.

Not a test: prints a table, one row per (what, length, implementation): median ms of a jitted
forward+backward step (gradients of a random projection of the output w.r.t. every weight), the compile time,
and the max relative difference of the outputs and of the gradients against keras-hub's (both in
inference mode, where dropout is off).
Three implementations: keras_hub, fast (exact: attention-probability dropout kept, so training
with dropout > 0 takes the explicit softmax path) and fast_nodrop (attention_dropout=False: fused
dot_product_attention in training too, no dropout on attention probabilities); on a GPU also fast_cudnn
(fast_nodrop with jax's cuDNN flash-attention kernel; bfloat16/float16 only).

    KERAS_BACKEND=jax python bench/attention_bench.py --size small         # CPU
    KERAS_BACKEND=jax python bench/attention_bench.py --size extra_small --dtype mixed_bfloat16 --batch 32
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

SIZES = {  # backbone shapes; extra_small is keras-hub's deberta_v3_extra_small_en (12 layers timed as --layers)
    "small": dict(num_heads=2, hidden_dim=64, intermediate_dim=128, bucket_size=64, num_layers=2, vocabulary_size=1000),
    "extra_small": dict(num_heads=6, hidden_dim=384, intermediate_dim=1536, bucket_size=256, num_layers=12,
                        vocabulary_size=128100),
}
IMPLEMENTATIONS = {"keras_hub": ("keras_hub", True, None), "fast": ("fast", True, None),
                   "fast_nodrop": ("fast", False, None), "fast_cudnn": ("fast", False, "cudnn")}
DEFAULT_IMPLEMENTATIONS = "keras_hub,fast,fast_nodrop"  # fast_cudnn needs a GPU and bfloat16/float16


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", choices=sorted(SIZES), default="small")
    p.add_argument("--layers", type=int, default=None, help="backbone layers (default: the size's)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lengths", default="128,256,512")
    p.add_argument("--dtype", default="float32", help="float32 | mixed_bfloat16 | mixed_float16")
    p.add_argument("--dropout", type=float, default=0.1, help="as in the real backbone; 0 makes training deterministic")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--only", choices=["layer", "backbone", "both"], default="both")
    p.add_argument("--implementations", default=DEFAULT_IMPLEMENTATIONS,
                   help=f"the first is the reference; from {list(IMPLEMENTATIONS)}")
    return p.parse_args(argv)


def rel_diff(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(a).max(), 1e-30))


def padding_mask(batch, length, rng):
    lengths = rng.integers(length // 2, length + 1, size=batch)
    lengths[0] = length
    return (np.arange(length)[None, :] < lengths[:, None]).astype("int32")


def build_layer(impl, size, dtype, dropout, batch, length):
    from keras_hub.src.models.deberta_v3.disentangled_self_attention import DisentangledSelfAttention

    from lmsys.siamese.attention import fast_attention_class

    name, attention_dropout, kernel = IMPLEMENTATIONS[impl]
    cls = DisentangledSelfAttention if name == "keras_hub" else fast_attention_class(attention_dropout, kernel)
    layer = cls(num_heads=size["num_heads"], hidden_dim=size["hidden_dim"], bucket_size=size["bucket_size"],
                dropout=dropout, dtype=dtype)
    layer.build((batch, length, size["hidden_dim"]))
    return layer


def build_backbone(impl, size, dtype, dropout):
    import keras_hub

    from lmsys.siamese.attention import attention_implementation

    name, attention_dropout, kernel = IMPLEMENTATIONS[impl]
    kwargs = {k: v for k, v in size.items()}
    with attention_implementation(name, attention_dropout=attention_dropout, implementation=kernel):
        return keras_hub.models.DebertaV3Backbone(max_sequence_length=512, dropout=dropout, dtype=dtype, **kwargs)


def step_functions(model):
    """Jitted (loss, grads) in training mode and outputs in inference mode, via stateless_call."""
    import jax
    import jax.numpy as jnp

    def forward(trainable, non_trainable, inputs, training):
        out, _ = model.stateless_call(trainable, non_trainable, inputs, training=training)
        return out

    def loss(trainable, non_trainable, inputs, training):
        # a fixed random projection: mean(out**2) after the final LayerNorm would have ~zero gradients
        out = forward(trainable, non_trainable, inputs, training).astype(jnp.float32)
        direction = jax.random.normal(jax.random.key(0), out.shape, jnp.float32)
        return jnp.mean(out * direction)

    grad_step = jax.jit(jax.value_and_grad(loss), static_argnums=3)
    infer = jax.jit(lambda t, n, inputs: forward(t, n, inputs, False))
    return grad_step, infer


class Timed:
    """One implementation ready to time: compiled training step, inference outputs and gradients."""

    def __init__(self, model, inputs):
        import jax

        self.args = ([v.value for v in model.trainable_variables],
                     [v.value for v in model.non_trainable_variables], inputs)
        self.grad_step, infer = step_functions(model)
        t0 = time.perf_counter()
        jax.block_until_ready(self.grad_step(*self.args, True))
        self.compile_s = time.perf_counter() - t0
        # compared in inference mode: training-mode dropout draws differ between implementations
        self.outputs = np.asarray(infer(*self.args), np.float32)
        _, self.grads = self.grad_step(*self.args, False)
        self.times = []

    def step(self) -> None:
        import jax

        t0 = time.perf_counter()
        jax.block_until_ready(self.grad_step(*self.args, True))
        self.times.append((time.perf_counter() - t0) * 1000)


def main(argv=None) -> None:
    args = parse_args(argv)
    import jax
    import keras
    from tqdm import tqdm

    size = dict(SIZES[args.size])
    if args.layers:
        size["num_layers"] = args.layers
    impls = args.implementations.split(",")
    unknown = sorted(set(impls) - set(IMPLEMENTATIONS))
    if unknown:
        raise SystemExit(f"--implementations: unknown {unknown}; choose from {list(IMPLEMENTATIONS)}")
    lengths = [int(x) for x in args.lengths.split(",")]
    device = jax.devices()[0]
    print(f"device: {device.platform} {getattr(device, 'device_kind', '')} x{jax.device_count()}; "
          f"size {args.size} {size}; batch {args.batch}; dtype {args.dtype}; dropout {args.dropout}; "
          f"median of {args.repeats} forward+backward steps")
    rng = np.random.default_rng(0)
    whats = ["layer", "backbone"] if args.only == "both" else [args.only]
    jobs = [(what, length) for what in whats for length in lengths]
    rows = []
    for what, length in tqdm(jobs, desc="benchmarks", file=sys.stderr):
        mask = padding_mask(args.batch, length, rng)
        timed = {}
        for impl in impls:
            keras.utils.set_random_seed(0)
            if what == "layer":
                model = build_layer(impl, size, args.dtype, args.dropout, args.batch, length)
                if not timed:
                    x = rng.normal(size=(args.batch, length, size["hidden_dim"])).astype("float32")
                    rel = rng.normal(size=(args.batch, 2 * size["bucket_size"], size["hidden_dim"])).astype("float32")
                    data = (x, rel, mask[:, None, :])
            else:
                model = build_backbone(impl, size, args.dtype, args.dropout)
                if not timed:
                    ids = (rng.integers(5, size["vocabulary_size"], size=(args.batch, length)) * mask).astype("int32")
                    data = {"token_ids": ids, "padding_mask": mask}
            if timed:
                model.set_weights(reference_weights)
            else:
                reference_weights = model.get_weights()
            timed[impl] = Timed(LayerAdapter(model) if what == "layer" else model, data)
        # round-robin, so a change in the shared machine's load hits every implementation alike
        for _ in range(args.repeats):
            for t in timed.values():
                t.step()
        ref = timed[impls[0]]
        ref_ms = statistics.median(ref.times)
        for impl, t in timed.items():
            ms = statistics.median(t.times)
            diff_out = rel_diff(ref.outputs, t.outputs)
            diff_grad = max(rel_diff(a, b) for a, b in zip(ref.grads, t.grads))
            rows.append((what, length, impl, ms, ms / ref_ms, t.compile_s, diff_out, diff_grad))
    print(f"{'what':<9}{'len':>5}  {'impl':<12}{'fwd+bwd ms':>11}{'vs ref':>8}{'compile s':>10}"
          f"{'out rel diff':>14}{'grad rel diff':>15}")
    for what, length, impl, ms, ratio, compile_s, d_out, d_grad in rows:
        print(f"{what:<9}{length:>5}  {impl:<12}{ms:>11.2f}{ratio:>8.2f}{compile_s:>10.1f}{d_out:>14.2e}{d_grad:>15.2e}")


class LayerAdapter:
    """Gives the attention layer the model-like (variables, stateless_call(inputs)) interface timed above."""

    def __init__(self, layer):
        self.layer = layer
        self.trainable_variables = layer.trainable_variables
        self.non_trainable_variables = layer.non_trainable_variables

    def stateless_call(self, trainable, non_trainable, data, training):
        x, rel, mask = data
        return self.layer.stateless_call(trainable, non_trainable, x, rel_embeddings=rel, attention_mask=mask,
                                         training=training)


if __name__ == "__main__":
    main()
