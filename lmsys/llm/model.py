"""The LLM classifier: decoder backbone -> hidden state of the last real token -> Dense(3) softmax in float32.

Sequences are right-padded, so the last real token (the end of the judge template, where the model
would answer) sits at position sum(padding_mask) - 1. Only LoRA factors and the head train; every
base weight is frozen by `backbone.enable_lora`.
"""

from __future__ import annotations

import keras
from keras import layers, ops

HEAD_NAME = "head"


class LastTokenClassifier(keras.Model):
    def __init__(self, backbone, **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone
        self.head = layers.Dense(3, activation="softmax", dtype="float32", name=HEAD_NAME)

    def call(self, inputs, training=False):
        mask = inputs["padding_mask"]
        hidden = self.backbone({"token_ids": inputs["token_ids"], "padding_mask": mask}, training=training)
        last = ops.maximum(ops.sum(ops.cast(mask, "int32"), axis=1) - 1, 0)
        picked = ops.take_along_axis(hidden, ops.reshape(last, (-1, 1, 1)), axis=1)[:, 0, :]
        return self.head(ops.cast(picked, "float32"))

    def build_for(self, length: int = 8) -> None:
        """Create every variable by running one dummy row."""
        import numpy as np

        ids = np.ones((1, length), dtype="int32")
        self({"token_ids": ids, "padding_mask": ids}, training=False)


def projection_names(backbone) -> list[str]:
    """Names of the layers inside the transformer blocks that take LoRA: every attention and MLP projection."""
    names = set()
    for block in backbone.transformer_layers:
        for layer in block._flatten_layers(include_self=False):
            if hasattr(layer, "enable_lora") and getattr(layer, "weights", None):
                names.add(layer.name)
    return sorted(names)


def lora_layers(backbone) -> list:
    """The backbone's LoRA-enabled layers, in its own (stable) order."""
    return [layer for layer in backbone._flatten_layers(include_self=False) if getattr(layer, "lora_enabled", False)]


def enable_lora(backbone, rank: int, targets) -> list[str]:
    """LoRA of `rank` on the named layers (empty: all projections); returns the target names used."""
    available = projection_names(backbone)
    targets = sorted(targets) if targets else available
    unknown = sorted(set(targets) - set(available))
    if unknown:
        raise ValueError(f"lora_targets: {unknown} are not projections of {type(backbone).__name__}; "
                         f"it has {available}")
    if rank <= 0:
        raise ValueError(f"lora_rank must be positive to train, got {rank}")
    backbone.enable_lora(rank, target_layer_names=targets)
    return targets


def build_classifier(backbone, rank: int = 0, targets=()) -> tuple[LastTokenClassifier, list[str]]:
    """The classifier, with LoRA enabled first when rank > 0 (a merged export has none)."""
    used = enable_lora(backbone, rank, targets) if rank > 0 else []
    if rank <= 0:
        backbone.trainable = False
    model = LastTokenClassifier(backbone, name="llm_classifier")
    model.build_for()
    return model, used


def compile_classifier(model, config, total_steps: int) -> None:
    """AdamW, per-step warmup then cosine decay, optional gradient accumulation (one row per device can
    then train with an effective batch of gradient_accumulation rows)."""
    accumulate = max(int(config.gradient_accumulation), 1)
    updates = max(int(total_steps), 2)  # Keras schedules read micro-steps, accumulation or not
    warmup = max(1, int(updates * config.warmup_fraction))
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.learning_rate * 0.01, decay_steps=max(updates - warmup, 1),
        alpha=config.min_lr_fraction, warmup_target=config.learning_rate, warmup_steps=warmup)
    optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=config.weight_decay,
                                       gradient_accumulation_steps=accumulate if accumulate > 1 else None)
    model.compile(optimizer=optimizer,
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing,
                                                            reduction="mean_with_sample_weight"))
