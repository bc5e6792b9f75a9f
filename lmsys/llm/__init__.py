"""The LLM family: a decoder LLM (Gemma-2 first; any keras-hub decoder backbone with enable_lora) reads
one judge sequence per row (prompt and both responses, every turn) and a Dense(3) head on the last
real token's hidden state gives P(A), P(B), P(tie). LoRA + head train, the base stays frozen.

presets (defaults, tiny), vocab (tiny SentencePiece with Gemma's ids), backbone (resolving --preset),
template (the judge prompt and its token budget), batches (buckets, row + swap), model (head + LoRA),
checkpoint (LoRA + head, resume), train, predict, export (merged / int8 / int4).
"""

from __future__ import annotations


USES_PRESET = True
NEEDS_ACCELERATOR = True  # a 9B decoder over ~25k hidden rows x 2 sequences: hours on GPU, impossible on CPU


def default_config(preset: str = "tiny", **overrides):
    from lmsys.llm.train import default_config as build

    return build(preset, **overrides)


def train_model(config, train_csv, out_dir, resume: bool = False, verbose="auto") -> dict:
    from lmsys.llm.train import train_model as train

    return train(config, train_csv, out_dir, resume=resume, verbose=verbose)


def predict_proba(model_dir, df, tta=None, verbose=1, report=None, budget=None):
    from lmsys.llm.predict import predict_proba as predict

    return predict(model_dir, df, tta=tta, verbose=verbose, report=report, budget=budget)


def with_attached_base(model_dir, input_dir, work_dir) -> str:
    from lmsys.kaggle.kernel_inputs import with_llm_base

    return with_llm_base(model_dir, input_dir, work_dir)


def attached_preset(input_dir) -> str:
    """A decoder among the attachments, not any keras-hub preset (a DeBERTa would be no LLM base)."""
    from lmsys.kaggle.kernel_inputs import find_llm_base

    return find_llm_base("", input_dir)


def model_dir_name(config) -> str:
    from lmsys.paths import preset_name

    return f"llm-{preset_name(config.preset)}"
