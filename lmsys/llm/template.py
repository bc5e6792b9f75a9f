"""The judge template: one token sequence per row holding every turn (prompt, response A, response B).

The sequence is built from ids, not from a rendered string, so the token budget is exact:

    <bos> [<start_of_turn>user\\n] HEADER
      \\n## Turn 1\\n### Prompt:\\n {prompt 1} \\n### Response A:\\n {A 1} \\n### Response B:\\n {B 1}
      ... every turn in order ...
      QUESTION [<end_of_turn>\\n<start_of_turn>model\\n]

(the bracketed chat markers only where the tokenizer has them, as Gemma's does). The classifier
reads the hidden state of the last token, i.e. the model's answer position.

Budget: the template's own tokens first; then the prompts together get at most `prompt_tokens`;
then the responses share what is left. Within a group every message keeps min(its length, level)
tokens for the largest level that fits, so A and B are treated identically (a swapped row has
exactly the mirrored allocation and the same length), and a cut message keeps its head and its
tail around an ellipsis. Room the responses do not need goes back to the prompts. When there are
too many turns for the budget, the oldest turns are dropped whole; the last turn never is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

HEADER = "Chatbot Arena battle: one user, two assistants (A and B), the same prompts. Judge the responses.\n"
TURN_LABEL = "\n## Turn {k}\n### Prompt:\n"
A_LABEL = "\n### Response A:\n"
B_LABEL = "\n### Response B:\n"
QUESTION = "\n\nWhich response did the user prefer: A, B, or tie?"
ELLIPSIS = " [...] "
MIN_PIECE = 8  # tokens every kept message is guaranteed before older turns are dropped


def template_texts() -> list[str]:
    """The template's fixed strings (for training a vocabulary that covers them)."""
    return [HEADER, QUESTION, A_LABEL, B_LABEL, *(TURN_LABEL.format(k=k) for k in range(1, 4)), ELLIPSIS, "user", "model"]


@dataclass
class JudgeTemplate:
    """The template as ids for one tokenizer. `encode` maps a list of strings to lists of ids."""

    encode: Callable[[list[str]], list[list[int]]]
    bos_id: int | None = None
    start_of_turn_id: int | None = None
    end_of_turn_id: int | None = None
    _cache: dict = field(default_factory=dict, repr=False)

    def text_ids(self, text: str) -> list[int]:
        if text not in self._cache:
            self._cache[text] = list(self.encode([text])[0])
        return self._cache[text]

    @property
    def has_chat_markers(self) -> bool:
        return self.start_of_turn_id is not None and self.end_of_turn_id is not None

    def prefix(self) -> list[int]:
        ids = [] if self.bos_id is None else [self.bos_id]
        if self.has_chat_markers:
            ids += [self.start_of_turn_id] + self.text_ids("user\n")
        return ids + self.text_ids(HEADER)

    def suffix(self) -> list[int]:
        ids = self.text_ids(QUESTION)
        if self.has_chat_markers:
            ids = ids + [self.end_of_turn_id] + self.text_ids("\n") + [self.start_of_turn_id] + self.text_ids("model\n")
        return ids

    def turn_labels(self, k: int) -> tuple[list[int], list[int], list[int]]:
        return self.text_ids(TURN_LABEL.format(k=k)), self.text_ids(A_LABEL), self.text_ids(B_LABEL)


def template_for(tokenizer) -> JudgeTemplate:
    """The judge template for a keras-hub tokenizer (Gemma's chat markers when its vocabulary has them)."""

    def encode(texts):
        out = tokenizer(list(texts))
        return [np.asarray(x).astype(np.int64).tolist() for x in out]

    def special(token):
        try:
            value = tokenizer.token_to_id(token)
        except Exception:  # noqa: BLE001 - tokenizers raise different errors for unknown tokens
            return None
        unk = getattr(tokenizer, "unk_token_id", None)
        return None if value is None or (unk is not None and value == unk) else int(value)

    bos = getattr(tokenizer, "start_token_id", None)
    return JudgeTemplate(encode=encode, bos_id=None if bos is None else int(bos),
                         start_of_turn_id=special("<start_of_turn>"), end_of_turn_id=special("<end_of_turn>"))


def level_allocate(lengths: Sequence[int], budget: int) -> list[int]:
    """min(length, t) for the largest integer t whose total fits `budget`: equal lengths get equal shares,
    so the allocation is symmetric under reordering (A/B swap)."""
    lengths = [max(int(n), 0) for n in lengths]
    budget = max(int(budget), 0)
    if sum(lengths) <= budget:
        return list(lengths)
    lo, hi = 0, max(lengths)
    while lo < hi:  # largest t with sum(min(l, t)) <= budget
        mid = (lo + hi + 1) // 2
        if sum(min(n, mid) for n in lengths) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return [min(n, lo) for n in lengths]


def head_tail_ids(ids: Sequence[int], keep: int, ellipsis: Sequence[int] = ()) -> list[int]:
    """`keep` ids of a message: its head and its tail (about half each), joined by `ellipsis` when it fits."""
    ids = list(ids)
    if len(ids) <= keep:
        return ids
    if keep <= 0:
        return []
    marker = list(ellipsis) if keep >= len(ellipsis) + 2 else []
    room = keep - len(marker)
    head = (room + 1) // 2
    tail = room - head
    return ids[:head] + marker + (ids[len(ids) - tail:] if tail else [])


def _turns(prompt_ids, a_ids, b_ids):
    n = max(len(prompt_ids), len(a_ids), len(b_ids), 1)
    pad = lambda turns: list(turns) + [[]] * (n - len(turns))  # noqa: E731
    return pad(prompt_ids), pad(a_ids), pad(b_ids)


def build_sequence(template: JudgeTemplate, prompt_ids, a_ids, b_ids, max_tokens: int, prompt_tokens: int) -> list[int]:
    """One row's ids (turns of tokenized prompt / response A / response B), at most `max_tokens` long."""
    prompts, resp_a, resp_b = _turns(prompt_ids, a_ids, b_ids)
    prefix, suffix = template.prefix(), template.suffix()
    ellipsis = template.text_ids(ELLIPSIS)
    first = 0

    def fixed(start):
        return len(prefix) + len(suffix) + sum(sum(map(len, template.turn_labels(k + 1))) for k in range(start, len(prompts)))

    while first < len(prompts) - 1 and fixed(first) + 3 * MIN_PIECE * (len(prompts) - first) > max_tokens:
        first += 1  # too many turns for the budget: drop the oldest, never the last
    room = max_tokens - fixed(first)
    if room < 3 * MIN_PIECE:
        raise ValueError(f"sequence length {max_tokens} is too short for the judge template "
                         f"({fixed(first)} template tokens); use at least {fixed(first) + 3 * MIN_PIECE}")
    prompts, resp_a, resp_b = prompts[first:], resp_a[first:], resp_b[first:]
    n = len(prompts)
    p_len = [len(p) for p in prompts]
    r_len = [len(r) for r in resp_a] + [len(r) for r in resp_b]
    p_cap = min(max(prompt_tokens, 0), room - 2 * n * MIN_PIECE)  # every response keeps MIN_PIECE at least
    p_alloc = level_allocate(p_len, p_cap)
    r_alloc = level_allocate(r_len, room - sum(p_alloc))
    spare = room - sum(p_alloc) - sum(r_alloc)
    if spare > 0 and sum(p_alloc) < sum(p_len):  # the responses did not need it all: give it to the prompts
        p_alloc = level_allocate(p_len, sum(p_alloc) + spare)
    seq = list(prefix)
    for k in range(n):
        turn_label, a_label, b_label = template.turn_labels(first + k + 1)
        seq += turn_label + head_tail_ids(prompts[k], p_alloc[k], ellipsis)
        seq += a_label + head_tail_ids(resp_a[k], r_alloc[k], ellipsis)
        seq += b_label + head_tail_ids(resp_b[k], r_alloc[n + k], ellipsis)
    return seq + suffix


def tokenize_messages(template: JudgeTemplate, df, progress: bool = False, chunk: int = 512) -> dict:
    """Every turn of prompt / response_a / response_b as ids: {column: [row -> [turn -> ids]]}."""
    columns = ("prompt", "response_a", "response_b")
    flat, where = [], []
    for c, column in enumerate(columns):
        for r, turns in enumerate(df[column].tolist()):
            for t, text in enumerate(turns):
                flat.append(text or "")
                where.append((c, r, t))
    ids: list = []
    starts = range(0, len(flat), chunk)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="tokenize", unit="chunk")
    for s in starts:
        ids.extend(template.encode(flat[s:s + chunk]))
    out = {column: [[[] for _ in turns] for turns in df[column].tolist()] for column in columns}
    for (c, r, t), row_ids in zip(where, ids):
        out[columns[c]][r][t] = list(row_ids)
    return out


def build_sequences(template: JudgeTemplate, df, max_tokens: int, prompt_tokens: int, swap: bool = False,
                    progress: bool = False, messages: dict | None = None) -> list[np.ndarray]:
    """Each row's judge sequence (responses exchanged when `swap`), as int32 arrays in df order."""
    messages = messages or tokenize_messages(template, df, progress)
    a_col, b_col = ("response_b", "response_a") if swap else ("response_a", "response_b")
    return [np.asarray(build_sequence(template, p, a, b, max_tokens, prompt_tokens), dtype=np.int32)
            for p, a, b in zip(messages["prompt"], messages[a_col], messages[b_col])]


def row_and_swap_sequences(template: JudgeTemplate, df, max_tokens: int, prompt_tokens: int, progress: bool = False):
    """(sequences, swapped sequences): the messages are tokenized once for both."""
    messages = tokenize_messages(template, df, progress)
    return (build_sequences(template, df, max_tokens, prompt_tokens, messages=messages),
            build_sequences(template, df, max_tokens, prompt_tokens, swap=True, messages=messages))
