"""Training the LLM family: bad input stops before anything is written, another decoder backbone (Llama) from
a local Keras preset directory, `--resume` after a kill, and learnability on the built-in sample."""

import io
import os

import numpy as np
import pytest

from tests.llm_helpers import small_config, small_sample


def test_bad_input_names_the_setting_and_writes_nothing(tmp_path):
    from lmsys.llm import train_model

    csv = small_sample(tmp_path / "data", rows=40)
    out = tmp_path / "model"
    with pytest.raises(FileNotFoundError, match="--preset .*no config.json"):
        train_model(small_config(preset=str(tmp_path / "nowhere")), csv, out)
    with pytest.raises(ValueError, match="prompt_tokens=200"):
        train_model(small_config(prompt_tokens=200), csv, out)
    with pytest.raises(ValueError, match="quantize"):
        train_model(small_config(quantize="int8"), csv, out)
    with pytest.raises((FileNotFoundError, ValueError), match="missing.csv"):
        train_model(small_config(), tmp_path / "missing.csv", out)
    assert not out.exists()


def _llama_preset(directory, texts):
    """A 2-layer LlamaBackbone and a SentencePiece LlamaTokenizer saved as a local keras-hub preset."""
    import keras
    import keras_hub
    import sentencepiece as spm

    from lmsys.llm.template import template_texts

    proto = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(list(texts) + template_texts() * 100), model_writer=proto, vocab_size=600,
                                   model_type="unigram", unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
                                   hard_vocab_limit=False, minloglevel=2)
    tokenizer = keras_hub.models.LlamaTokenizer(proto=proto.getvalue())
    keras.utils.set_random_seed(1)
    backbone = keras_hub.models.LlamaBackbone(vocabulary_size=tokenizer.vocabulary_size(), num_layers=2,
                                              num_query_heads=4, num_key_value_heads=2, hidden_dim=32,
                                              intermediate_dim=64)
    backbone.save_to_preset(directory)
    tokenizer.save_to_preset(directory)


@pytest.mark.slow  # about 2 minutes on the shared CPU
def test_llama_from_a_local_preset_directory_trains_and_predicts(tmp_path):
    from lmsys.data import load_competition_csv
    from lmsys.llm import predict_proba, train_model
    from lmsys.llm.predict import load_classifier

    csv = small_sample(tmp_path / "data", rows=40)
    df = load_competition_csv(csv)
    texts = [t for c in ("prompt", "response_a", "response_b") for turns in df[c] for t in turns if t]
    _llama_preset(str(tmp_path / "llama"), texts)
    config = small_config(preset=str(tmp_path / "llama"), lora_targets=[], sequence_length=192,
                          predict_sequence_length=192, buckets=[192])
    metrics = train_model(config, csv, tmp_path / "model", verbose=0)
    assert metrics["lora_targets"] == ["attention_output", "feedforward_gate_dense", "feedforward_intermediate_dense",
                                       "feedforward_output_dense", "key", "query", "value"]
    assert not os.path.exists(tmp_path / "model" / "base")  # a preset's base is not copied: only LoRA + head
    _, model, _ = load_classifier(tmp_path / "model")
    assert type(model.backbone).__name__ == "LlamaBackbone"
    probs = predict_proba(tmp_path / "model", df.iloc[:8], verbose=0)
    assert probs.shape == (8, 3) and np.allclose(probs.sum(axis=1), 1.0)


@pytest.mark.slow
def test_resume_after_a_kill_gives_the_uninterrupted_result(tmp_path, monkeypatch):
    import pandas as pd

    from lmsys.llm import checkpoint, train_model

    csv = small_sample(tmp_path / "data", rows=96)
    config = small_config(epochs=2)
    train_model(config, csv, tmp_path / "whole", verbose=0)

    real_save = checkpoint.save_resume_state

    def save_then_die(model_dir, model, state):
        real_save(model_dir, model, state)
        raise KeyboardInterrupt("killed after epoch 1")

    monkeypatch.setattr(checkpoint, "save_resume_state", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train_model(config, csv, tmp_path / "killed", verbose=0)
    monkeypatch.setattr(checkpoint, "save_resume_state", real_save)
    assert not os.path.exists(tmp_path / "killed" / "metrics.json")
    train_model(config, csv, tmp_path / "killed", resume=True, verbose=0)
    whole = pd.read_csv(tmp_path / "whole" / "val_predictions.csv")
    resumed = pd.read_csv(tmp_path / "killed" / "val_predictions.csv")
    np.testing.assert_allclose(resumed.iloc[:, 1:4].to_numpy(), whole.iloc[:, 1:4].to_numpy(), atol=1e-6)
    assert len(pd.read_csv(tmp_path / "killed" / "history.csv")) == 2


@pytest.mark.slow
def test_tiny_llm_beats_the_class_prior_on_the_builtin_sample(tmp_path):
    """The full built-in sample (2,000 rows) with the tiny defaults: about 15 minutes on a shared 2-core CPU."""
    from lmsys.data.sample import write_sample
    from lmsys.llm import default_config, train_model

    train, _ = write_sample(tmp_path / "sample")
    metrics = train_model(default_config("tiny"), train, tmp_path / "model", verbose=0)
    assert metrics["val_log_loss"] < metrics["prior_log_loss"] - 0.05, metrics
    assert metrics["val_log_loss_tta"] <= metrics["val_log_loss_no_tta"] + 0.01
