"""The LLM family's defaults: a tiny Gemma-2-shaped backbone that trains on a CPU, the settings for
pretrained presets (the top solutions' recipe), and the Gemma-2-9B shape the benchmark builds."""

from __future__ import annotations

TINY = "tiny"

# A 2-layer GemmaBackbone with every Gemma-2 feature: grouped-query attention (4 query / 2 kv heads),
# attention and final logit soft-caps, a sliding window on alternate layers, post-attention/ffw norms.
TINY_LLM = {
    "vocabulary_size": 2000,
    "num_layers": 2,
    "num_query_heads": 4,
    "num_key_value_heads": 2,
    "hidden_dim": 64,
    "intermediate_dim": 256,  # GemmaBackbone halves it per gate: 128 per projection
    "head_dim": 16,
    "query_head_dim_normalize": True,
    "use_post_ffw_norm": True,
    "use_post_attention_norm": True,
    "attention_logit_soft_cap": 50.0,
    "final_logit_soft_cap": 30.0,
    "use_sliding_window_attention": True,
    "sliding_window_size": 128,
}

# Gemma-2-9B (keras-hub preset gemma2_9b_en): 9,241,705,984 parameters.
GEMMA2_9B = {
    "vocabulary_size": 256000,
    "num_layers": 42,
    "num_query_heads": 16,
    "num_key_value_heads": 8,
    "hidden_dim": 3584,
    "intermediate_dim": 28672,
    "head_dim": 256,
    "query_head_dim_normalize": True,
    "use_post_ffw_norm": True,
    "use_post_attention_norm": True,
    "attention_logit_soft_cap": 50.0,
    "final_logit_soft_cap": 30.0,
    "use_sliding_window_attention": True,
    "sliding_window_size": 4096,
}

# Pretrained presets: LoRA r16 on every projection, 1,024 tokens to train / 2,048 to predict, prompt
# capped at 256, one row (and its swap) per device step accumulated to an effective 8 rows.
PRETRAINED_DEFAULTS = dict(
    lora_rank=16, lora_targets=[], sequence_length=1024, predict_sequence_length=2048, prompt_tokens=256,
    batch_size=1, gradient_accumulation=8, epochs=1, learning_rate=1e-4, warmup_fraction=0.05,
    min_lr_fraction=0.05, weight_decay=0.0, label_smoothing=0.0, dropout=0.0,
    buckets=[256, 512, 768, 1024, 1536, 2048], tta=True,
)

# tiny: LoRA on a random base, on a CPU; one budget for training and prediction (a random base is
# sensitive to the shift a longer prediction budget brings).
TINY_DEFAULTS = dict(
    PRETRAINED_DEFAULTS, lora_rank=8, sequence_length=192, predict_sequence_length=192, prompt_tokens=32,
    batch_size=16, gradient_accumulation=1, epochs=3, learning_rate=3e-3, warmup_fraction=0.05,
    buckets=[128, 192], precision="float32",
)


def is_tiny(preset: str) -> bool:
    return preset == TINY
