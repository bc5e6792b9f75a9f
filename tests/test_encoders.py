"""Any keras-hub text encoder as the Siamese backbone (issue 15, part 2): a Hugging Face-format BERT directory
(config.json + model.safetensors + vocab.txt, what keras-hub converts) loads through --preset, its special
tokens come from its tokenizer (not DeBERTa's ids), and the model trains and predicts from it; the head's own
learning rate for pretrained encoders."""

import collections
import json
import os
import re

import numpy as np
import pytest

from conftest import random_head


HF_BERT = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
               max_position_embeddings=128, type_vocab_size=2)
# Specials where neither DeBERTa's ids (pad 0, [CLS] 1, [SEP] 2) nor the usual BERT ids (101, 102) would find them.
SPECIALS = ["[PAD]", "[UNK]", "[MASK]", "[unused0]", "[unused1]", "[CLS]", "[SEP]"]


def _vocabulary(texts, words: int = 400) -> list:
    counts = collections.Counter(w for t in texts for w in re.findall(r"[a-z]+|\d|[^\sa-z\d]", t.lower()))
    chars = sorted({c for w in counts for c in w})
    return SPECIALS + chars + [f"##{c}" for c in chars] + \
        [w for w, _ in counts.most_common() if len(w) > 1][:words]


def write_hf_bert(directory, texts, seed: int = 0) -> str:
    """A tiny BERT in Hugging Face format: random weights with HF names and shapes (torch Linear: out x in)."""
    from safetensors.numpy import save_file

    os.makedirs(directory, exist_ok=True)
    vocab = _vocabulary(texts)
    h, i, p = HF_BERT["hidden_size"], HF_BERT["intermediate_size"], HF_BERT["max_position_embeddings"]
    rng = np.random.default_rng(seed)

    def w(*shape):
        return (rng.normal(size=shape) * 0.05).astype(np.float32)

    tensors = {"embeddings.word_embeddings.weight": w(len(vocab), h), "embeddings.position_embeddings.weight": w(p, h),
               "embeddings.token_type_embeddings.weight": w(2, h),
               "embeddings.LayerNorm.weight": np.ones(h, np.float32), "embeddings.LayerNorm.bias": w(h),
               "pooler.dense.weight": w(h, h), "pooler.dense.bias": w(h)}
    for n in range(HF_BERT["num_hidden_layers"]):
        pre = f"encoder.layer.{n}."
        for name in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            tensors[pre + name + ".weight"], tensors[pre + name + ".bias"] = w(h, h), w(h)
        tensors[pre + "intermediate.dense.weight"], tensors[pre + "intermediate.dense.bias"] = w(i, h), w(i)
        tensors[pre + "output.dense.weight"], tensors[pre + "output.dense.bias"] = w(h, i), w(h)
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            tensors[pre + norm + ".weight"], tensors[pre + norm + ".bias"] = np.ones(h, np.float32), w(h)
    save_file(tensors, os.path.join(directory, "model.safetensors"))
    with open(os.path.join(directory, "config.json"), "w") as fh:
        json.dump({"model_type": "bert", "architectures": ["BertModel"], "vocab_size": len(vocab), **HF_BERT}, fh)
    with open(os.path.join(directory, "tokenizer_config.json"), "w") as fh:
        json.dump({"do_lower_case": True, "tokenizer_class": "BertTokenizer"}, fh)
    with open(os.path.join(directory, "vocab.txt"), "w") as fh:
        fh.write("\n".join(vocab) + "\n")
    return str(directory)


@pytest.fixture(scope="module")
def hf_bert(tiny_texts, tmp_path_factory):
    return write_hf_bert(tmp_path_factory.mktemp("hf") / "tiny-bert", tiny_texts[1][:400])


def test_a_hugging_face_bert_directory_is_the_encoder_with_its_own_special_tokens(hf_bert, tiny_texts):
    from safetensors.numpy import load_file

    from lmsys.siamese.backbone import load_backbone, load_tokenizer
    from lmsys.siamese.model import build_classifier
    from lmsys.siamese.predict import predict_pairs_with_tta
    from lmsys.siamese.tokens import tokenize_pairs
    from lmsys.siamese.train import default_config

    config = default_config(hf_bert, sequence_length=64, buckets=[32], precision="float32")
    tokenizer, backbone = load_tokenizer(hf_bert), load_backbone(hf_bert, config)
    assert type(backbone).__name__ == "BertBackbone" and type(tokenizer).__name__ == "BertTokenizer"
    np.testing.assert_array_equal(np.asarray(backbone.get_layer("token_embedding").embeddings),
                                  load_file(os.path.join(hf_bert, "model.safetensors"))["embeddings.word_embeddings.weight"])
    pairs = tokenize_pairs(tiny_texts[0].head(12), config, tokenizer, progress=False)
    cls, sep = SPECIALS.index("[CLS]"), SPECIALS.index("[SEP]")
    assert all(x[0] == cls and x[-1] == sep and cls not in x[1:-1] for x in pairs.a + pairs.b)
    assert pairs.pad_id == 0 and max(map(len, pairs.a + pairs.b)) <= 64
    model = build_classifier(config, backbone)
    probs = predict_pairs_with_tta(model, pairs, config, tta=True)
    assert probs.shape == (12, 3) and np.allclose(probs.sum(1), 1.0)


def test_a_preset_longer_than_the_encoder_allows_names_the_flag(hf_bert):
    from lmsys.siamese.backbone import load_backbone
    from lmsys.siamese.train import default_config

    with pytest.raises(ValueError, match=r"--sequence-length 512 is longer than preset .*max_sequence_length 128"):
        load_backbone(hf_bert, default_config(hf_bert, sequence_length=512))


def test_a_hugging_face_bert_without_vocab_txt_says_what_is_missing(hf_bert, tmp_path):
    import shutil

    from lmsys.siamese.backbone import load_tokenizer

    broken = tmp_path / "no-vocab"
    shutil.copytree(hf_bert, broken)
    os.remove(broken / "vocab.txt")
    with pytest.raises(ValueError, match=r"--preset .*no-vocab.*vocab\.txt is missing"):
        load_tokenizer(str(broken))


def test_the_head_learns_at_its_own_rate_and_the_backbone_at_the_base_rate(tiny_parts):
    """Adam's first step moves each weight by about the rate (the warmup starts at 1% of the peak): the head's by
    1% of head_learning_rate, the backbone's by 1% of learning_rate."""
    from lmsys.siamese.backbone import load_backbone
    from lmsys.siamese.model import build_classifier, compile_classifier

    config, tokenizer, _ = tiny_parts
    config = config.replace(learning_rate=1e-4, head_learning_rate=1e-2, warmup_fraction=0.0)
    model = random_head(build_classifier(config, load_backbone("tiny", config, tokenizer)))  # zero: no backbone gradient
    compile_classifier(model, config, total_steps=100)
    rng = np.random.default_rng(0)
    ids = rng.integers(5, 700, size=(8, 2, 16)).astype("int32")
    x = {"token_ids": ids, "padding_mask": np.ones_like(ids, bool),
         "lengths": rng.normal(size=(8, 2, len(config.length_features))).astype("float32")}
    y = np.eye(3, dtype="float32")[np.arange(8) % 3]
    head_before = [np.asarray(v) for v in model.head.trainable_variables]
    body = model.backbone.get_layer("token_embedding").embeddings
    body_before = np.asarray(body)
    model.train_on_batch(x, y)
    head_step = max(np.abs(np.asarray(v) - b).max() for v, b in zip(model.head.trainable_variables, head_before))
    body_step = np.abs(np.asarray(body) - body_before).max()
    assert 0.5e-4 < head_step < 1.5e-4 and 0.5e-6 < body_step < 1.5e-6, (head_step, body_step)


@pytest.mark.slow
def test_the_siamese_model_trains_resumes_and_predicts_from_a_hugging_face_bert_directory(real_data, hf_bert, tmp_path):
    import keras_hub

    from lmsys.data import load_competition_csv
    from lmsys.models import predict_proba
    from lmsys.run_dir import best_generation
    from lmsys.siamese.checkpoint import load_resume_tokenizer
    from lmsys.siamese.train import default_config, train_model

    out = str(tmp_path / "model")
    config = default_config(hf_bert, epochs=1, sequence_length=64, buckets=[32], precision="float32",
                            learning_rate=1e-4, val_fraction=0.2)
    metrics = train_model(config, real_data.train, out, verbose=0)
    assert np.isfinite(metrics["val_log_loss"]) and metrics["val_rows"] == 200
    saved = os.path.join(best_generation(out), "preset")
    assert type(keras_hub.models.Backbone.from_preset(saved)).__name__ == "BertBackbone"
    assert type(load_resume_tokenizer(out)).__name__ == "BertTokenizer"  # --resume gets the same tokenizer back
    test = load_competition_csv(real_data.test)
    probs = predict_proba(out, test, verbose=0)
    assert probs.shape == (len(test), 3) and np.allclose(probs.sum(1), 1.0)
    swapped = test.rename(columns={"response_a": "response_b", "response_b": "response_a"})
    np.testing.assert_allclose(predict_proba(out, swapped, verbose=0), probs[:, [1, 0, 2]], atol=1e-6)
