"""The LLM family's model: what trains, the Gemma-2 shapes, LoRA + head files and their checks, swap TTA,
the merged and quantized exports, another decoder backbone (Llama) from a local preset directory."""

import json
import os
import shutil

import numpy as np
import pytest

from tests.llm_helpers import small_config, small_sample


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One small tiny-LLM model directory trained for an epoch, and the rows it validated on."""
    from lmsys.data import load_competition_csv
    from lmsys.llm import train_model

    root = tmp_path_factory.mktemp("llm")
    csv = small_sample(root / "data")
    metrics = train_model(small_config(), csv, root / "model", verbose=0)
    return root / "model", load_competition_csv(csv), metrics


def test_trainable_weights_are_lora_and_head_and_the_rest_stays_frozen():
    import keras
    import keras_hub

    from lmsys.llm.model import build_classifier, compile_classifier
    from lmsys.llm.presets import TINY_LLM

    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.GemmaBackbone(**dict(TINY_LLM, vocabulary_size=300, num_layers=1))
    model, targets = build_classifier(backbone, 4, [])
    assert targets == ["attention_output", "ffw_gating", "ffw_gating_2", "ffw_linear", "key", "query", "value"]
    names = sorted(v.path for v in model.trainable_variables)
    lora = [n for n in names if n.endswith(("lora_kernel_a", "lora_kernel_b"))]
    assert len(lora) == 2 * 7
    assert sorted(set(names) - set(lora)) == ["llm_classifier/head/bias", "llm_classifier/head/kernel"]
    frozen = {v.path: np.array(v.numpy()) for v in model.non_trainable_variables}
    before = {v.path: np.array(v.numpy()) for v in model.trainable_variables}
    compile_classifier(model, small_config(learning_rate=1e-2), total_steps=4)
    rng = np.random.default_rng(0)
    x = {"token_ids": rng.integers(4, 300, size=(8, 32)).astype("int32"), "padding_mask": np.ones((8, 32), "int32")}
    model.fit(x, np.eye(3, dtype="float32")[rng.integers(0, 3, 8)], epochs=1, batch_size=4, verbose=0)
    for v in model.non_trainable_variables:
        np.testing.assert_array_equal(np.asarray(v.numpy()), frozen[v.path], err_msg=v.path)
    changed = [p for p, v in ((v.path, v) for v in model.trainable_variables) if not np.array_equal(v.numpy(), before[p])]
    assert any(p.endswith("lora_kernel_b") for p in changed) and "llm_classifier/head/kernel" in changed


def test_gemma2_9b_configuration_has_its_parameter_count():
    import keras_hub

    from lmsys.llm.backbone import count_params_abstract
    from lmsys.llm.presets import GEMMA2_9B

    import resource

    import keras

    assert count_params_abstract(keras_hub.models.GemmaBackbone, **GEMMA2_9B) == 9_241_705_984
    with keras.StatelessScope():  # closing one must not allocate the 37 GB the count left registered
        pass
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 6 * 2**20  # KiB: under 6 GiB


def test_tiny_vocabulary_has_gemma_special_ids(real_data):
    from lmsys.data import load_competition_csv
    from lmsys.llm.backbone import tiny_tokenizer
    from lmsys.llm.template import row_and_swap_sequences, template_for

    df = load_competition_csv(real_data.train).iloc[:200]
    texts = [t for c in ("prompt", "response_a") for turns in df[c] for t in turns]
    tok = tiny_tokenizer(texts, 1000)
    assert [tok.id_to_token(i) for i in (0, 1, 2, 3, 106, 107)] == [
        "<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]
    template = template_for(tok)
    seqs, swapped = row_and_swap_sequences(template, df.iloc[:20], 256, 64)
    for s, w in zip(seqs, swapped):
        assert s[:2].tolist() == [2, 106] and 107 in s.tolist() and len(s) == len(w) <= 256
        assert s[-1 - len(template.text_ids("model\n"))] == 106


def test_training_writes_the_run_files_and_reloads_identically(trained):
    from lmsys.llm.checkpoint import load_adapter, save_adapter
    from lmsys.llm.model import lora_layers
    from lmsys.llm.predict import load_classifier, predict_loaded
    from lmsys.run_dir import best_generation, read_val_predictions

    model_dir, df, metrics = trained
    for name in ("config.json", "model.json", "metrics.json", "history.csv", "val_predictions.csv", "base"):
        assert os.path.exists(model_dir / name), name
    config, model, tokenizer = load_classifier(model_dir)
    assert config.lora_targets and all(np.abs(layer.lora_kernel_b.numpy()).max() > 0 for layer in lora_layers(model.backbone))
    val = read_val_predictions(model_dir)
    rows = df.set_index("id").loc[val["id"]].reset_index()
    probs = predict_loaded(model, tokenizer, config, rows, tta=config.tta)
    np.testing.assert_allclose(probs, val[["winner_model_a", "winner_model_b", "winner_tie"]].to_numpy(), atol=1e-7)
    # LoRA + head into a new generation, loaded into a freshly built model: identical predictions
    gen = model_dir / "copy-gen"
    gen.mkdir()
    save_adapter(gen, model, config.lora_rank, config.lora_targets)
    _, fresh, _ = load_classifier(model_dir)
    load_adapter(gen, fresh, config.lora_rank, config.lora_targets)
    np.testing.assert_array_equal(predict_loaded(fresh, tokenizer, config, rows, tta=False),
                                  predict_loaded(model, tokenizer, config, rows, tta=False))
    assert os.path.getsize(os.path.join(best_generation(model_dir), "adapter.npz")) < 200_000


@pytest.mark.parametrize("change", [{"lora_rank": 2}, {"lora_targets": ["query", "value"]}])
def test_loading_refuses_other_rank_or_targets(trained, tmp_path, change):
    from lmsys.llm.predict import predict_proba

    model_dir, df, _ = trained
    copy = tmp_path / "changed"
    shutil.copytree(model_dir, copy)
    config = json.loads((copy / "config.json").read_text())
    config.update(change)
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="must match"):
        predict_proba(copy, df.iloc[:4], verbose=0)


def test_swap_tta_is_exactly_symmetric_and_rows_sum_to_one(trained):
    from lmsys.data import swap_frame
    from lmsys.models import predict_proba

    model_dir, df, _ = trained
    rows = df.iloc[:24].reset_index(drop=True)
    probs = predict_proba(model_dir, rows, verbose=0)
    swapped = predict_proba(model_dir, swap_frame(rows), verbose=0)
    assert probs.shape == (24, 3)
    np.testing.assert_array_equal(probs, swapped[:, [1, 0, 2]])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-12)
    plain = predict_proba(model_dir, rows, tta=False, verbose=0)
    assert not np.allclose(plain, probs)  # TTA really averaged a second pass


@pytest.mark.slow  # about 70 s on the shared CPU (two exports, three compiled predictions)
def test_merged_and_int8_exports_predict_like_the_lora_model(trained, tmp_path):
    from lmsys.llm.export import export_model
    from lmsys.models import predict_proba

    model_dir, df, _ = trained
    rows = df.iloc[:40].reset_index(drop=True)
    lora = predict_proba(model_dir, rows, verbose=0)
    export_model(model_dir, tmp_path / "merged")
    assert not os.path.exists(os.path.join(tmp_path / "merged", "checkpoint"))
    np.testing.assert_allclose(predict_proba(tmp_path / "merged", rows, verbose=0), lora, atol=1e-5)
    export_model(model_dir, tmp_path / "int8", quantize="int8")
    assert json.loads((tmp_path / "int8" / "config.json").read_text())["quantize"] == "int8"
    int8 = predict_proba(tmp_path / "int8", rows, verbose=0)
    assert np.abs(int8 - lora).max() < 0.02
    assert (int8.argmax(1) == lora.argmax(1)).mean() >= 0.95
    with pytest.raises(ValueError, match="--quantize"):
        export_model(model_dir, tmp_path / "bad", quantize="int3")


def test_int8_with_float16_compute_runs_in_float32(capsys):
    from lmsys.llm.export import quantized_policy

    assert quantized_policy("int8", "mixed_float16") == "float32"
    assert "no bfloat16" in capsys.readouterr().out
    assert quantized_policy("int4", "mixed_float16") == "mixed_float16"
    assert quantized_policy("int8", "mixed_bfloat16") == "mixed_bfloat16"


def test_the_registry_reaches_the_llm_family():
    from lmsys.models import default_config, family, model_dir_name

    fam = family("llm")
    assert isinstance(fam.USES_PRESET, bool) and fam.NEEDS_ACCELERATOR is True
    config = default_config("llm")
    assert config.model_type == "llm" and config.preset == "tiny" and model_dir_name(config) == "llm-tiny"
    big = default_config("llm", "/kaggle/input/gemma2/keras/gemma2_9b_en/2")
    assert model_dir_name(big) == "llm-gemma2_9b_en"
    assert (big.sequence_length, big.predict_sequence_length, big.prompt_tokens, big.lora_rank) == (1024, 2048, 256, 16)
    assert big.batch_size * big.gradient_accumulation == 8 and big.tta
