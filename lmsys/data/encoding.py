"""UTF-8 encode-fail handling.

`json.loads` joins escaped surrogate pairs into one character, but a genuinely unpaired half
(``"\\ud83d"`` alone) survives and makes ``str.encode("utf-8")`` raise. The starter blanked the
whole field; we replace only the offending code points so the rest of the text still reaches
the model, and let the caller mark the row.
"""

from __future__ import annotations

import re

REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")


def has_lone_surrogate(text: str) -> bool:
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def repair_text(text: str) -> tuple[str, bool]:
    """Return (text with each lone surrogate replaced by U+FFFD, whether anything was replaced)."""
    if not has_lone_surrogate(text):
        return text, False
    return _SURROGATE.sub(REPLACEMENT, text), True


def repair_turns(turns: list[str]) -> tuple[list[str], bool]:
    failed = False
    out = turns
    for i, turn in enumerate(turns):
        fixed, bad = repair_text(turn)
        if bad:
            if out is turns:
                out = list(turns)
            out[i] = fixed
            failed = True
    return out, failed
