"""Tokenizing option pairs once, within the sequence length, keeping every turn's head and tail.

Options are first cut to a character budget; rows whose token count still exceeds the sequence
length are rebuilt with a budget scaled by their own characters-per-token and re-tokenized (a
couple of rounds), so truncation happens per turn in text, not by chopping the end off the ids.
Swapping A and B needs no re-tokenization: option A of the swapped row is option B.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from lmsys.data.options import build_option, option_format

CHARS_PER_TOKEN_GUESS = 5
CHUNK = 2048
REFINE_ROUNDS = 3


def special_ids(tokenizer) -> tuple:
    """(start, end, pad) token ids from the tokenizer: [CLS]/[SEP]/[PAD] (DeBERTa, BERT, ALBERT) or
    <s>/</s>/<pad> (RoBERTa, XLM-RoBERTa). start/end are None where the tokenizer has no such token."""

    def first(*names):
        for name in names:
            value = getattr(tokenizer, name, None)
            if value is not None:
                return int(value)
        return None

    start = first("cls_token_id", "start_token_id", "bos_token_id")
    end = first("sep_token_id", "end_token_id", "eos_token_id")
    pad = first("pad_token_id")
    if pad is None:
        raise ValueError(f"{type(tokenizer).__name__} has no pad token; the Siamese model pads options with it")
    return start, end, pad


@dataclass
class TokenizedPairs:
    """Token ids with the tokenizer's start/end tokens ([CLS] ... [SEP]) per option, ragged; `a[i]`, `b[i]`
    belong to row i. `lengths_a`/`lengths_b`: each option's length features (lmsys.siamese.lengths), (rows, k)
    float32, or None when the model reads none."""

    a: list
    b: list
    pad_id: int = 0
    lengths_a: np.ndarray | None = None
    lengths_b: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.a)

    def option_lengths(self) -> tuple[np.ndarray, np.ndarray]:
        return (np.fromiter(map(len, self.a), np.int64, len(self.a)),
                np.fromiter(map(len, self.b), np.int64, len(self.b)))

    def lengths(self) -> np.ndarray:
        """Per row, the longer of its two options."""
        return np.maximum(*self.option_lengths())

    def swapped(self) -> "TokenizedPairs":
        return TokenizedPairs(self.b, self.a, self.pad_id, self.lengths_b, self.lengths_a)

    def take(self, index) -> "TokenizedPairs":
        index = np.asarray(index, dtype=np.int64)
        lengths = (None, None) if self.lengths_a is None else (self.lengths_a[index], self.lengths_b[index])
        return TokenizedPairs([self.a[i] for i in index], [self.b[i] for i in index], self.pad_id, *lengths)

    def length_features(self, index) -> np.ndarray | None:
        """(rows, 2, k) float32 of these rows, A then B; None without length features."""
        if self.lengths_a is None:
            return None
        index = np.asarray(index, dtype=np.int64)
        return np.stack([self.lengths_a[index], self.lengths_b[index]], axis=1)


def tokenize_texts(tokenizer, texts, progress: bool = True, desc: str = "tokenize") -> list:
    """Ids (without special tokens) of each text, in chunks with a progress bar."""
    out = []
    bar = tqdm(total=len(texts), desc=desc, unit="text", disable=not progress, mininterval=1.0)
    for start in range(0, len(texts), CHUNK):
        chunk = texts[start:start + CHUNK]
        ids = tokenizer(chunk)
        out.extend(np.asarray(x, dtype=np.int32) for x in _as_lists(ids))
        bar.update(len(chunk))
    bar.close()
    return out


def _as_lists(ids):
    if hasattr(ids, "to_list"):  # a tf.RaggedTensor (TensorFlow backend)
        return ids.to_list()
    return ids


def tokenize_pairs(df, config, tokenizer, progress: bool = True) -> TokenizedPairs:
    """Both options of every row, fitted into config.sequence_length tokens with the start/end tokens, and their
    length features when config.length_features names any (counted on the whole responses)."""
    from lmsys.siamese.lengths import response_lengths

    start, end, pad = special_ids(tokenizer)
    room = config.sequence_length - (start is not None) - (end is not None)
    max_chars = config.max_chars or room * CHARS_PER_TOKEN_GUESS
    fmt = option_format(config)
    prompts = df["prompt"].tolist()
    sides = []
    for col in ("response_a", "response_b"):
        responses = df[col].tolist()
        texts = [build_option(p, r, max_chars=max_chars, **fmt) for p, r in zip(prompts, responses)]
        ids = tokenize_texts(tokenizer, texts, progress, desc=f"tokenize {col}")
        for _ in range(REFINE_ROUNDS):
            over = [i for i, x in enumerate(ids) if len(x) > room]
            if not over:
                break
            redo = [build_option(prompts[i], responses[i], **fmt,
                                 max_chars=int(len(texts[i]) * room / len(ids[i]) * 0.97)) for i in over]
            for i, text, new in zip(over, redo, tokenize_texts(tokenizer, redo, progress=False)):
                texts[i], ids[i] = text, new
        sides.append([_pack(x, room, start, end) for x in ids])
    lengths = response_lengths(df, getattr(config, "length_features", {})) or (None, None)
    return TokenizedPairs(sides[0], sides[1], pad, *lengths)


def _pack(ids: np.ndarray, room: int, start, end) -> np.ndarray:
    if len(ids) > room:  # rare after refinement: keep head and tail of the ids
        head = room // 2
        ids = np.concatenate([ids[:head], ids[len(ids) - (room - head):]])
    return np.concatenate([[] if start is None else [start], ids, [] if end is None else [end]]).astype(np.int32)
