"""The Siamese classifier: one shared DeBERTa-v3 backbone reads option A and option B.

Inputs are (batch, 2, seq_len) `token_ids` and `padding_mask`, or the split form of lmsys.siamese.batching
(each option padded to its own length), which gives the same output with less padding. Each option is pooled over its
real tokens only (the starter's GlobalAveragePooling1D also averaged padding), the two vectors are
joined, and a Dense(3) softmax runs in float32 so rows sum to 1 under mixed precision too.
"""

from __future__ import annotations

import keras
from keras import layers, ops

HEAD_NAME = "head"


class MaskedMeanPooling(layers.Layer):
    """Mean over positions where the mask is set, computed in float32."""

    def call(self, hidden, mask):
        mask = ops.cast(ops.expand_dims(mask, -1), "float32")
        total = ops.sum(ops.cast(hidden, "float32") * mask, axis=1)
        return total / ops.maximum(ops.sum(mask, axis=1), 1.0)


class SiameseClassifier(keras.Model):
    def __init__(self, backbone, dropout: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone
        self.pool = MaskedMeanPooling(dtype="float32", name="pool")
        self.drop = layers.Dropout(dropout, name="dropout")
        self.head = layers.Dense(3, activation="softmax", dtype="float32", name=HEAD_NAME)

    def encode(self, token_ids, mask, training=False):
        """Pooled vectors of a (rows, length) batch of options."""
        hidden = self.backbone({"token_ids": token_ids, "padding_mask": mask}, training=training)
        return self.pool(hidden, mask)

    def call(self, inputs, training=False):
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
            pooled_a, pooled_b = ops.where(a_is_long, long, short), ops.where(a_is_long, short, long)
            joined = ops.concatenate([pooled_a, pooled_b], axis=-1)
        else:  # pair form: token_ids and padding_mask shaped (rows, 2, length)
            token_ids, mask = inputs["token_ids"], inputs["padding_mask"]
            batch, _, length = ops.shape(token_ids)
            pooled = self.encode(ops.reshape(token_ids, (-1, length)), ops.reshape(mask, (-1, length)), training)
            joined = ops.reshape(pooled, (batch, -1))  # [pooled A, pooled B]
        return self.head(self.drop(joined, training=training))

    def build_for(self, length: int = 8) -> None:
        """Create every variable by running one dummy pair."""
        import numpy as np

        ids = np.ones((1, 2, length), dtype="int32")
        self({"token_ids": ids, "padding_mask": ids}, training=False)


def build_classifier(config, backbone) -> SiameseClassifier:
    model = SiameseClassifier(backbone, dropout=config.dropout, name="siamese_classifier")
    model.build_for()
    return model


def compile_classifier(model, config, total_steps: int) -> None:
    """Adam with a per-step warmup then cosine decay that reaches min_lr_fraction by the last step."""
    total_steps = max(int(total_steps), 2)
    warmup = max(1, int(total_steps * config.warmup_fraction))
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.learning_rate * 0.01, decay_steps=max(total_steps - warmup, 1),
        alpha=config.min_lr_fraction, warmup_target=config.learning_rate, warmup_steps=warmup)
    if config.weight_decay:
        optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=config.weight_decay)
    else:
        optimizer = keras.optimizers.Adam(learning_rate=schedule)
    model.compile(
        optimizer=optimizer,
        # Validation batches are padded to fixed shapes with zero-weight rows: average over real rows only.
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing,
                                                  reduction="mean_with_sample_weight"),
        metrics=[keras.metrics.CategoricalCrossentropy(name="log_loss"),
                 keras.metrics.CategoricalAccuracy(name="accuracy")],
    )
