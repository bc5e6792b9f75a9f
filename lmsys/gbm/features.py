"""Hand-made text features of a (prompt, response A, response B) row, for the LightGBM model.

Each response gets the same per-side features (lengths, markdown structure, refusals, overlap and
TF-IDF similarity with the prompt); a row is then [side A, side B, A - B, log ratio A/B, features
that do not depend on the order]. Because of that layout the features of the A/B-swapped row are a
fixed column permutation (with sign flips) of the row's own, which is what makes swap symmetry
exact and cheap (:func:`swap_features`).

The TF-IDF weights are fitted on training text and saved with the model (:class:`TfidfState`), so
a test row's features never depend on which other rows are predicted with it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from lmsys.data import TEXT_COLUMNS


WORD_RE = re.compile(r"\w+", re.UNICODE)
HEADER_RE = re.compile(r"^\s{0,3}#{1,6}\s", re.MULTILINE)
BULLET_RE = re.compile(r"^\s*[-*+•]\s+\S", re.MULTILINE)
NUMBERED_RE = re.compile(r"^\s*\d{1,3}[.)]\s+\S", re.MULTILINE)
BOLD_RE = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")
FENCE_RE = re.compile(r"```")
INLINE_CODE_RE = re.compile(r"`[^`\n]+`")
TABLE_RE = re.compile(r"^\s*\|.*\|\s*$", re.MULTILINE)
LINK_RE = re.compile(r"https?://|\]\(")
REFUSAL_RE = re.compile(
    r"\b(?:i'?m sorry|i am sorry|i apologi[sz]e|i cannot|i can'?t|i can ?not|i'?m (?:not able|unable)|"
    r"i am (?:not able|unable)|i won'?t|i will not|as an ai|as a language model|ai language model|"
    r"i don'?t have (?:personal|the ability|access)|not appropriate|against my|cannot (?:fulfill|provide|assist|help)|"
    r"unable to (?:provide|assist|help|fulfill))\b",
    re.IGNORECASE)
APOLOGY_RE = re.compile(r"\b(?:sorry|apologi[sz]e|unfortunately)\b", re.IGNORECASE)

SIDE_FEATURES = (
    "chars", "words", "lines", "turns", "empty_turns", "chars_per_turn", "words_per_line", "mean_word_len",
    "unique_word_frac", "headers", "bullets", "numbered", "bold", "code_blocks", "inline_code", "table_rows",
    "links", "refusals", "apologies", "questions", "exclaims", "digits_frac", "upper_frac", "punct_frac",
    "newline_frac", "non_ascii_frac", "overlap_resp", "overlap_prompt", "jaccard", "tfidf_prompt",
    "first_turn_chars", "last_turn_chars", "is_empty",
)
# Counts and sizes: their A/B ratio is informative (log((a+1)/(b+1))); fractions only get a difference.
RATIO_FEATURES = (
    "chars", "words", "lines", "turns", "chars_per_turn", "headers", "bullets", "numbered", "bold",
    "code_blocks", "table_rows", "refusals", "first_turn_chars", "last_turn_chars",
)
SHARED_FEATURES = (
    "prompt_chars", "prompt_words", "prompt_turns", "prompt_lines", "prompt_code_blocks", "prompt_questions",
    "identical", "both_empty", "any_empty", "tfidf_ab", "jaccard_ab", "len_abs_log_ratio", "encode_fail",
)


def _join(turns) -> str:
    if isinstance(turns, str):
        return turns
    return "\n\n".join(turns)


def _words(text: str) -> list[str]:
    return WORD_RE.findall(text.lower())


def _frac(count: int, total: int) -> float:
    return count / total if total else 0.0


def side_features(prompt_words: set, turns, response_text: str) -> dict:
    """Per-response features; `prompt_words` is the set of lower-cased prompt words."""
    text = response_text
    words = _words(text)
    n_chars, n_words = len(text), len(words)
    word_set = set(words)
    turn_lengths = [len(t) for t in turns] or [0]
    non_empty = [t for t in turns if t.strip()]
    inter = len(word_set & prompt_words)
    union = len(word_set | prompt_words)
    return {
        "chars": n_chars,
        "words": n_words,
        "lines": text.count("\n") + (1 if text else 0),
        "turns": len(non_empty),
        "empty_turns": len(turns) - len(non_empty),
        "chars_per_turn": n_chars / max(len(turns), 1),
        "words_per_line": n_words / max(text.count("\n") + 1, 1),
        "mean_word_len": _frac(sum(map(len, words)), n_words),
        "unique_word_frac": _frac(len(word_set), n_words),
        "headers": len(HEADER_RE.findall(text)),
        "bullets": len(BULLET_RE.findall(text)),
        "numbered": len(NUMBERED_RE.findall(text)),
        "bold": len(BOLD_RE.findall(text)),
        "code_blocks": len(FENCE_RE.findall(text)) // 2,
        "inline_code": len(INLINE_CODE_RE.findall(text)),
        "table_rows": len(TABLE_RE.findall(text)),
        "links": len(LINK_RE.findall(text)),
        "refusals": len(REFUSAL_RE.findall(text)),
        "apologies": len(APOLOGY_RE.findall(text)),
        "questions": text.count("?"),
        "exclaims": text.count("!"),
        "digits_frac": _frac(sum(c.isdigit() for c in text), n_chars),
        "upper_frac": _frac(sum(c.isupper() for c in text), n_chars),
        "punct_frac": _frac(sum(c in ".,;:!?()[]{}\"'-" for c in text), n_chars),
        "newline_frac": _frac(text.count("\n"), n_chars),
        "non_ascii_frac": _frac(sum(not c.isascii() for c in text), n_chars),
        "overlap_resp": _frac(inter, len(word_set)),
        "overlap_prompt": _frac(inter, len(prompt_words)),
        "jaccard": _frac(inter, union),
        "tfidf_prompt": 0.0,  # filled in by build_features (needs the fitted TF-IDF)
        "first_turn_chars": turn_lengths[0],
        "last_turn_chars": turn_lengths[-1],
        "is_empty": float(not text.strip()),
    }


@dataclass
class TfidfState:
    """A fitted TF-IDF (vocabulary and idf), saved as plain JSON beside the model."""

    vocabulary: dict
    idf: list

    @classmethod
    def fit(cls, df: pd.DataFrame, max_features: int = 30000) -> "TfidfState":
        texts = [_join(t) for col in TEXT_COLUMNS for t in df[col]]
        vec = TfidfVectorizer(max_features=max_features, sublinear_tf=True, min_df=2, dtype=np.float32)
        try:
            vec.fit(texts)
        except ValueError:  # too little text for min_df=2 (tiny test frames)
            vec = TfidfVectorizer(max_features=max_features, sublinear_tf=True, dtype=np.float32).fit(texts + ["empty"])
        return cls({k: int(v) for k, v in vec.vocabulary_.items()}, [float(x) for x in vec.idf_])

    def to_dict(self) -> dict:
        return {"vocabulary": self.vocabulary, "idf": self.idf}

    @classmethod
    def from_dict(cls, values: dict) -> "TfidfState":
        return cls(dict(values["vocabulary"]), list(values["idf"]))

    def transform(self, texts):
        """L2-normalised TF-IDF rows of `texts` (sparse)."""
        vec = TfidfVectorizer(vocabulary=self.vocabulary, sublinear_tf=True, norm=None, use_idf=False,
                              dtype=np.float32)
        counts = vec.fit_transform(texts)  # with a fixed vocabulary, fit only checks it
        return normalize(counts.multiply(np.asarray(self.idf, dtype=np.float32)).tocsr())


def _rowwise_cosine(x, y) -> np.ndarray:
    return np.asarray(x.multiply(y).sum(axis=1)).ravel()


def feature_names() -> list[str]:
    names = [f"a_{f}" for f in SIDE_FEATURES] + [f"b_{f}" for f in SIDE_FEATURES]
    names += [f"diff_{f}" for f in SIDE_FEATURES] + [f"logratio_{f}" for f in RATIO_FEATURES]
    return names + list(SHARED_FEATURES)


def swap_features(x: np.ndarray) -> np.ndarray:
    """The features of the A/B-swapped rows, from the rows' own (exactly what build_features gives)."""
    s, r = len(SIDE_FEATURES), len(RATIO_FEATURES)
    a, b = x[:, :s], x[:, s:2 * s]
    diff, ratio, shared = x[:, 2 * s:3 * s], x[:, 3 * s:3 * s + r], x[:, 3 * s + r:]
    return np.concatenate([b, a, -diff, -ratio, shared], axis=1)


def _check_frame(df: pd.DataFrame) -> None:
    missing = [c for c in TEXT_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"features: the frame lacks column(s) {missing}; expected the output of "
                         "lmsys.data.load_competition_csv")
    for col in TEXT_COLUMNS:
        for i, value in enumerate(df[col].tolist()):
            if not isinstance(value, (list, tuple)) or not all(isinstance(t, str) for t in value):
                row_id = df["id"].iat[i] if "id" in df.columns else i
                raise ValueError(f"features: row id {row_id}, column {col!r}: expected a list of strings, "
                                 f"got {type(value).__name__}")


def base_features(df: pd.DataFrame) -> np.ndarray:
    """Every feature but the TF-IDF ones (left 0), float64; they do not depend on any fitted state,
    so cross-validation computes them once for all folds."""
    _check_frame(df)
    n = len(df)
    side_a, side_b, shared = [], [], []
    for i in range(n):
        p, a, b = _join(df["prompt"].iat[i]), _join(df["response_a"].iat[i]), _join(df["response_b"].iat[i])
        pw = set(_words(p))
        fa = side_features(pw, df["response_a"].iat[i], a)
        fb = side_features(pw, df["response_b"].iat[i], b)
        wa, wb = set(_words(a)), set(_words(b))
        shared.append([
            len(p), len(_words(p)), len(df["prompt"].iat[i]), p.count("\n") + 1, len(FENCE_RE.findall(p)) // 2,
            p.count("?"), float(a == b), float(fa["is_empty"] and fb["is_empty"]),
            float(fa["is_empty"] or fb["is_empty"]), 0.0, _frac(len(wa & wb), len(wa | wb)),
            abs(math.log((len(a) + 1) / (len(b) + 1))),
            float(df["encode_fail"].iat[i]) if "encode_fail" in df.columns else 0.0,
        ])
        side_a.append([fa[k] for k in SIDE_FEATURES])
        side_b.append([fb[k] for k in SIDE_FEATURES])
    a = np.array(side_a, dtype=np.float64).reshape(n, len(SIDE_FEATURES))
    b = np.array(side_b, dtype=np.float64).reshape(n, len(SIDE_FEATURES))
    shared = np.array(shared, dtype=np.float64).reshape(n, len(SHARED_FEATURES))
    ri = [SIDE_FEATURES.index(f) for f in RATIO_FEATURES]
    ratio = np.log1p(a[:, ri]) - np.log1p(b[:, ri])
    return np.concatenate([a, b, a - b, ratio, shared], axis=1)


def with_tfidf(base: np.ndarray, df: pd.DataFrame, tfidf: TfidfState) -> np.ndarray:
    """`base` (from base_features of the same rows) with the TF-IDF similarities filled in, as float32."""
    if len(base) != len(df):
        raise ValueError(f"features: {len(base)} feature rows for {len(df)} data rows")
    x = np.array(base, dtype=np.float64, copy=True)
    if len(df):
        vp, va, vb = (tfidf.transform([_join(t) for t in df[col]]) for col in TEXT_COLUMNS)
        names = {name: i for i, name in enumerate(feature_names())}
        sim_a, sim_b = _rowwise_cosine(vp, va), _rowwise_cosine(vp, vb)
        x[:, names["a_tfidf_prompt"]], x[:, names["b_tfidf_prompt"]] = sim_a, sim_b
        x[:, names["diff_tfidf_prompt"]] = sim_a - sim_b
        x[:, names["tfidf_ab"]] = _rowwise_cosine(va, vb)
    return x.astype(np.float32)


def build_features(df: pd.DataFrame, tfidf: TfidfState) -> np.ndarray:
    """The (n_rows, n_features) float32 matrix, columns as in :func:`feature_names`."""
    return with_tfidf(base_features(df), df, tfidf)
