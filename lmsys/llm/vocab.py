"""A SentencePiece vocabulary with Gemma's special ids, trained locally for the offline `tiny` LLM.

Gemma's real vocabulary cannot be downloaded here, but the template and the backbone only care
about the ids of the special pieces, so the tiny vocabulary puts them exactly where Gemma has them:
pad 0, eos 1, bos 2, unk 3, <mask> 4, ..., <start_of_turn> 106, <end_of_turn> 107. Ordinary pieces
come after.
"""

from __future__ import annotations

import io
import random

PAD, EOS, BOS, UNK = 0, 1, 2, 3
START_OF_TURN, END_OF_TURN = "<start_of_turn>", "<end_of_turn>"
# Gemma's ids 4..107: <mask>, <2mass>, [@BOS@], <unused0>..<unused98>, then the turn markers.
USER_SYMBOLS = ["<mask>", "<2mass>", "[@BOS@]", *[f"<unused{i}>" for i in range(99)], START_OF_TURN, END_OF_TURN]
START_OF_TURN_ID, END_OF_TURN_ID = 106, 107
MAX_TRAIN_TEXTS = 20_000
MAX_TEXT_CHARS = 2_000


def train_gemma_vocab(texts, vocab_size: int = 2000, seed: int = 0) -> bytes:
    """Train a unigram SentencePiece model on (a seeded sample of) `texts`; returns the serialized proto."""
    import sentencepiece as spm

    texts = [t for t in texts if t]
    if not texts:
        raise ValueError("cannot train the tiny LLM vocabulary: no non-empty training texts")
    if vocab_size <= len(USER_SYMBOLS) + 4 + 50:
        raise ValueError(f"tiny_llm vocabulary_size {vocab_size} is too small: Gemma's special pieces alone take "
                         f"{len(USER_SYMBOLS) + 4} ids")
    if len(texts) > MAX_TRAIN_TEXTS:
        texts = random.Random(seed).sample(texts, MAX_TRAIN_TEXTS)
    lines = [t[:MAX_TEXT_CHARS].replace("\n", " ") for t in texts]
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=model, vocab_size=vocab_size, model_type="unigram",
        pad_id=PAD, pad_piece="<pad>", eos_id=EOS, eos_piece="<eos>", bos_id=BOS, bos_piece="<bos>",
        unk_id=UNK, unk_piece="<unk>", user_defined_symbols=USER_SYMBOLS, hard_vocab_limit=False,
        character_coverage=0.9995, byte_fallback=False, num_threads=2, minloglevel=2,
    )
    return model.getvalue()
