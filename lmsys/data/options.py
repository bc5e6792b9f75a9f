"""Option strings: the two texts the Siamese model reads.

Option A is the whole conversation with response A, option B the same with response B, turn by
turn in order (the starter kept only turn 0). When a conversation exceeds its budget, every turn
keeps its head and its tail, so the last turn is never dropped and the end of a long answer (often
its conclusion) survives. The budget is in characters, or in tokens when a token counter is given.
"""

from __future__ import annotations

from typing import Callable, Sequence

DEFAULT_TEMPLATE = "Prompt: {prompt}\n\nResponse: {response}"
ELLIPSIS = " [...] "


def _allocate(lengths: Sequence[int], budget: int) -> list[int]:
    """Water-filling: short pieces keep everything, long ones share what is left equally."""
    alloc = [0] * len(lengths)
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    left, n = max(budget, 0), len(lengths)
    for rank, i in enumerate(order):
        share = left // (n - rank)
        alloc[i] = min(lengths[i], share)
        left -= alloc[i]
    return alloc


def head_tail(text: str, keep: int) -> str:
    """Keep `keep` characters: the first ~half and the last ~half, joined by a marker."""
    if len(text) <= keep:
        return text
    if keep <= len(ELLIPSIS) + 1:
        return text[:max(keep, 0)]
    room = keep - len(ELLIPSIS)
    head = (room + 1) // 2
    return text[:head] + ELLIPSIS + text[len(text) - (room - head):]


def _pieces(prompt: Sequence[str], response: Sequence[str], turns: str) -> list[str]:
    n = max(len(prompt), len(response))
    if turns == "first":
        n = min(n, 1)
    elif turns != "all":
        raise ValueError(f"turns must be 'all' or 'first', got {turns!r}")
    pieces = []
    for i in range(n):
        pieces.append(prompt[i] if i < len(prompt) else "")
        pieces.append(response[i] if i < len(response) else "")
    return pieces


def _render(pieces: Sequence[str], template: str, separator: str) -> str:
    return separator.join(template.format(prompt=pieces[i], response=pieces[i + 1]) for i in range(0, len(pieces), 2))


def build_option(prompt: Sequence[str], response: Sequence[str], *, turns: str = "all",
                 template: str = DEFAULT_TEMPLATE, separator: str = "\n\n", max_chars: int | None = None,
                 max_tokens: int | None = None, count_tokens: Callable[[str], int] | None = None) -> str:
    """One option string for a conversation (lists of turns) with one side's responses."""
    pieces = _pieces(prompt, response, turns)
    text = _render(pieces, template, separator)
    if max_chars is not None and len(text) > max_chars:
        overhead = len(text) - sum(map(len, pieces))
        alloc = _allocate([len(p) for p in pieces], max_chars - overhead)
        pieces = [head_tail(p, a) for p, a in zip(pieces, alloc)]
        text = _render(pieces, template, separator)
    if max_tokens is not None:
        if count_tokens is None:
            raise ValueError("max_tokens needs count_tokens (a tokenizer's length function)")
        text = _fit_tokens(pieces, template, separator, max_tokens, count_tokens)
    return text


def _fit_tokens(pieces, template, separator, max_tokens, count_tokens) -> str:
    text = _render(pieces, template, separator)
    total = count_tokens(text)
    if total <= max_tokens:
        return text
    counts = [count_tokens(p) for p in pieces]
    overhead = max(total - sum(counts), 0)
    budget = max_tokens - overhead
    for _ in range(4):  # token counts of cut text differ slightly from the estimate: shrink until it fits
        alloc = _allocate(counts, budget)
        cut = [head_tail(p, int(len(p) * a / c)) if c > a else p for p, a, c in zip(pieces, alloc, counts)]
        text = _render(cut, template, separator)
        total = count_tokens(text)
        if total <= max_tokens:
            return text
        budget -= total - max_tokens + 1
    return text


def build_options(df, *, turns: str = "all", template: str = DEFAULT_TEMPLATE, separator: str = "\n\n",
                  max_chars: int | None = None, swap: bool = False, **token_budget) -> tuple[list[str], list[str]]:
    """Option A and option B texts for every row; `swap=True` exchanges the responses."""
    a_col, b_col = ("response_b", "response_a") if swap else ("response_a", "response_b")
    prompts = df["prompt"].tolist()
    kw = dict(turns=turns, template=template, separator=separator, max_chars=max_chars, **token_budget)
    opt_a = [build_option(p, r, **kw) for p, r in zip(prompts, df[a_col].tolist())]
    opt_b = [build_option(p, r, **kw) for p, r in zip(prompts, df[b_col].tolist())]
    return opt_a, opt_b


def option_format(config) -> dict:
    """The configuration's text format, as build_option takes it."""
    return dict(turns=config.turns, template=config.template, separator=config.turn_separator)


def options_from_config(df, config, swap: bool = False) -> tuple[list[str], list[str]]:
    return build_options(df, **option_format(config), max_chars=config.max_chars or None, swap=swap)
