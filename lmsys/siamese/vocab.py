"""A DeBERTa-compatible SentencePiece vocabulary trained locally, for the offline `tiny` preset.

Pretrained vocabularies come with presets and cannot be downloaded here; the ids follow DeBERTa-v3:
[PAD]=0, [CLS]=1, [SEP]=2, [UNK]=3, then [MASK].
"""

from __future__ import annotations

import io
import random

import sentencepiece as spm

MAX_TRAIN_TEXTS = 20_000
MAX_TEXT_CHARS = 2_000


def train_vocab(texts, vocab_size: int = 2000, seed: int = 0) -> bytes:
    """Train a unigram SentencePiece model on (a seeded sample of) `texts`; returns the serialized proto."""
    texts = [t for t in texts if t]
    if not texts:
        raise ValueError("cannot train a vocabulary: no non-empty training texts")
    if len(texts) > MAX_TRAIN_TEXTS:
        texts = random.Random(seed).sample(texts, MAX_TRAIN_TEXTS)
    lines = [t[:MAX_TEXT_CHARS].replace("\n", " ") for t in texts]
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=model,
        vocab_size=vocab_size,
        model_type="unigram",
        pad_id=0, pad_piece="[PAD]",
        bos_id=1, bos_piece="[CLS]",
        eos_id=2, eos_piece="[SEP]",
        unk_id=3, unk_piece="[UNK]",
        user_defined_symbols=["[MASK]"],
        hard_vocab_limit=False,
        character_coverage=0.9995,
        byte_fallback=False,
        num_threads=2,
        minloglevel=2,
    )
    return model.getvalue()
