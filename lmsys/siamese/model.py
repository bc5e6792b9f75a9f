"""The Siamese classifier: one shared keras-hub encoder (DeBERTa-v3 by default) reads option A and option B.

Inputs are (batch, 2, seq_len) `token_ids` and `padding_mask`, or the split form of lmsys.siamese.batching
(each option padded to its own length), which gives the same output with less padding. Each option is pooled over its
real tokens only (the starter's GlobalAveragePooling1D also averaged padding), each option's length features
(lmsys.siamese.lengths: counted on the whole response, which truncation hides from the encoder) are appended to
its vector, the two are joined, and a Dense(3) softmax runs in float32 so rows sum to 1 under mixed precision too.
The head starts with a zero kernel (training sets its bias to the log class prior): a fresh head then predicts
the prior, where a random one starts worse than the prior and, in a small run's ~135 steps at 1e-3, ends worse
or little better (bench/minilm_head_probe.py: pooled vectors alone -0.002 from a random start, +0.006 from zero;
lengths alone -0.155 and +0.020).

Swap TTA in one pass: the swapped pair has the same two pooled vectors, only exchanged, so each option is
encoded once and only the head runs twice, on [A, B] and on [B, A]. What inference (training=False: predict,
and the validation inside fit) returns is the model's `inference` mode:
    "plain"  P(A, B, tie) of [A, B]                                              (rows, 3)
    "tta"    the mean of that and the swapped-back P of [B, A]                   (rows, 3)
    "both"   P of [A, B] and P of [B, A] side by side, for the host to combine   (rows, 6)
Training (training=True) always returns "plain".
"""

from __future__ import annotations

import keras
from keras import layers, ops

HEAD_NAME = "head"
INFERENCE_MODES = ("plain", "tta", "both")


class MaskedMeanPooling(layers.Layer):
    """Mean over positions where the mask is set, computed in float32."""

    def call(self, hidden, mask):
        mask = ops.cast(ops.expand_dims(mask, -1), "float32")
        total = ops.sum(ops.cast(hidden, "float32") * mask, axis=1)
        return total / ops.maximum(ops.sum(mask, axis=1), 1.0)


class SiameseClassifier(keras.Model):
    def __init__(self, backbone, dropout: float = 0.1, inference: str = "plain", length_features: int = 0,
                 **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone
        self.length_features = int(length_features)  # k: inputs carry "lengths" (rows, 2, k)
        self.pool = MaskedMeanPooling(dtype="float32", name="pool")
        self.drop = layers.Dropout(dropout, name="dropout")
        self.head = layers.Dense(3, activation="softmax", dtype="float32", kernel_initializer="zeros", name=HEAD_NAME)
        # BERT and ALBERT backbones also take segment_ids (all 0 here: each option is one segment)
        self._segment_ids = isinstance(backbone.input, dict) and "segment_ids" in backbone.input
        self.inference = _check_mode(inference)

    def set_inference(self, mode: str) -> None:
        """Switch what inference returns (see the module docstring); a change drops the compiled
        predict/test steps so the next call traces the new mode."""
        if _check_mode(mode) != self.inference:
            self.inference = mode
            self.predict_function = None
            self.test_function = None

    def encode(self, token_ids, mask, training=False):
        """Pooled vectors of a (rows, length) batch of options."""
        inputs = {"token_ids": token_ids, "padding_mask": mask}
        if self._segment_ids:
            inputs["segment_ids"] = ops.zeros_like(token_ids)
        hidden = self.backbone(inputs, training=training)
        if isinstance(hidden, dict):  # BERT and ALBERT return {"sequence_output", "pooled_output"}
            hidden = hidden["sequence_output"]
        return self.pool(hidden, mask)

    def pooled_pair(self, inputs, training=False):
        """(pooled A, pooled B), each (rows, hidden), every option encoded once."""
        if "a_is_long" in inputs:  # split form (lmsys.siamese.batching): each option padded to its own bucket
            rows = ops.shape(inputs["short_ids"])[0]
            if ops.shape(inputs["short_ids"])[1] == ops.shape(inputs["long_ids"])[1]:  # static: one call
                both = self.encode(ops.concatenate([inputs["short_ids"], inputs["long_ids"]], axis=0),
                                   ops.concatenate([inputs["short_mask"], inputs["long_mask"]], axis=0), training)
                short, long = both[:rows], both[rows:]
            else:
                short = self.encode(inputs["short_ids"], inputs["short_mask"], training)
                long = self.encode(inputs["long_ids"], inputs["long_mask"], training)
            a_is_long = ops.expand_dims(ops.cast(inputs["a_is_long"], "bool"), -1)
            return ops.where(a_is_long, long, short), ops.where(a_is_long, short, long)
        # pair form: token_ids and padding_mask shaped (rows, 2, length)
        token_ids, mask = inputs["token_ids"], inputs["padding_mask"]
        batch, _, length = ops.shape(token_ids)
        pooled = self.encode(ops.reshape(token_ids, (-1, length)), ops.reshape(mask, (-1, length)), training)
        pooled = ops.reshape(pooled, (batch, 2, -1))
        return pooled[:, 0], pooled[:, 1]

    def option_vectors(self, inputs, training=False):
        """(A, B): each option's pooled vector, then its length features when the model reads them."""
        pooled_a, pooled_b = self.pooled_pair(inputs, training)
        if not self.length_features:
            return pooled_a, pooled_b
        if "lengths" not in inputs:
            raise ValueError(f"this model reads {self.length_features} length features per option (config "
                             "length_features): its inputs need 'lengths', shaped (rows, 2, k)")
        lengths = ops.cast(inputs["lengths"], "float32")
        return (ops.concatenate([pooled_a, lengths[:, 0]], axis=-1),
                ops.concatenate([pooled_b, lengths[:, 1]], axis=-1))

    def call(self, inputs, training=False):
        vec_a, vec_b = self.option_vectors(inputs, training)
        plain = self.head(self.drop(ops.concatenate([vec_a, vec_b], axis=-1), training=training))
        if training or self.inference == "plain":
            return plain
        swapped = self.head(ops.concatenate([vec_b, vec_a], axis=-1))  # P(B wins, A wins, tie) of [B, A]
        if self.inference == "both":
            return ops.concatenate([plain, swapped], axis=-1)
        return 0.5 * (plain + ops.take(swapped, [1, 0, 2], axis=-1))

    def build_for(self, length: int = 8) -> None:
        """Create every variable by running one dummy pair."""
        import numpy as np

        ids = np.ones((1, 2, length), dtype="int32")
        inputs = {"token_ids": ids, "padding_mask": ids}
        if self.length_features:
            inputs["lengths"] = np.zeros((1, 2, self.length_features), dtype="float32")
        self(inputs, training=False)

    def start_at_prior(self, prior) -> None:
        """Bias of the (zero-kernel) fresh head := log class prior, so its first predictions are the prior."""
        import numpy as np

        self.head.bias.assign(np.log(np.clip(np.asarray(prior, dtype="float32"), 1e-6, 1.0)))


def _check_mode(mode: str) -> str:
    if mode not in INFERENCE_MODES:
        raise ValueError(f"inference mode {mode!r}: expected one of {INFERENCE_MODES}")
    return mode


def build_classifier(config, backbone) -> SiameseClassifier:
    """The classifier; its inference (and so the validation inside fit) is swap TTA when config.tta is set."""
    model = SiameseClassifier(backbone, dropout=config.dropout, inference="tta" if config.tta else "plain",
                              length_features=len(getattr(config, "length_features", {}) or {}),
                              name="siamese_classifier")
    model.build_for()
    return model


_HEAD_RATE_CLASSES: dict = {}


def head_rate_optimizer(cls):
    """`cls` (a Keras optimizer) that updates the head's variables at `head_factor` times the learning rate.

    A pretrained encoder wants a small rate (5e-6 in the starter) while the head starts from random weights: at
    that rate Adam moves each head weight by about 5e-6 per step, so on a thousand rows (~150 steps) the head
    stays where it was initialised. Keras has no per-variable rate; this scales it in `update_step`, so the
    head follows the same warmup and decay, `head_factor` times higher.
    """
    if cls not in _HEAD_RATE_CLASSES:
        class HeadRate(cls):
            def __init__(self, head_variables=(), head_factor: float = 1.0, **kwargs):
                super().__init__(**kwargs)
                self._head_ids = {id(v) for v in head_variables}
                self._head_factor = float(head_factor)

            def update_step(self, gradient, variable, learning_rate):
                if id(variable) in self._head_ids:
                    learning_rate = learning_rate * self._head_factor
                return super().update_step(gradient, variable, learning_rate)

        HeadRate.__name__ = f"HeadRate{cls.__name__}"
        _HEAD_RATE_CLASSES[cls] = HeadRate
    return _HEAD_RATE_CLASSES[cls]


def compile_classifier(model, config, total_steps: int) -> None:
    """Adam with a per-step warmup then cosine decay that reaches min_lr_fraction by the last step; the head
    at config.head_learning_rate on the same schedule (0: the backbone's rate)."""
    total_steps = max(int(total_steps), 2)
    warmup = max(1, int(total_steps * config.warmup_fraction))
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.learning_rate * 0.01, decay_steps=max(total_steps - warmup, 1),
        alpha=config.min_lr_fraction, warmup_target=config.learning_rate, warmup_steps=warmup)
    kwargs = {"learning_rate": schedule}
    cls = keras.optimizers.Adam
    if config.weight_decay:
        cls, kwargs["weight_decay"] = keras.optimizers.AdamW, config.weight_decay
    head_rate = getattr(config, "head_learning_rate", 0.0)
    if head_rate and head_rate != config.learning_rate:
        cls = head_rate_optimizer(cls)
        kwargs.update(head_variables=model.head.trainable_variables, head_factor=head_rate / config.learning_rate)
    optimizer = cls(**kwargs)
    model.compile(
        optimizer=optimizer,
        # Batches are padded to fixed shapes with zero-weight filler rows: average over real rows only. Keras
        # applies sample weights to `weighted_metrics` only; under `metrics=` the filler rows counted in full.
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing,
                                                  reduction="mean_with_sample_weight"),
        weighted_metrics=[keras.metrics.CategoricalCrossentropy(name="log_loss"),
                          keras.metrics.CategoricalAccuracy(name="accuracy")],
    )
