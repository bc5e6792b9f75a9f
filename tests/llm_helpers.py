"""Small LLM-family configurations and data for the tests (CPU, seconds per step)."""

import os

SMALL = dict(sequence_length=128, predict_sequence_length=128, prompt_tokens=24, buckets=[128], batch_size=16,
             epochs=1, lora_rank=4, learning_rate=5e-3, val_fraction=0.25, gradient_accumulation=1, precision="float32")


def small_sample(directory, rows: int = 96) -> str:
    """The built-in sample's generator, `rows` training rows: the csv path."""
    from lmsys.data.sample import write_sample

    train, _ = write_sample(os.fspath(directory), n_train=rows, n_test=16)
    return train


def small_config(preset: str = "tiny", **overrides):
    from lmsys.llm import default_config

    return default_config(preset, **{**SMALL, **overrides})
