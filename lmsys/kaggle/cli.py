"""Run the real `kaggle` command and turn every failure into a KaggleError.

The client prints several failures and still exits 0 ("Dataset creation error: ...",
"Kernel push error: ..."), and prints others to stderr with exit 1; both end here as one
exception carrying the client's own message (with any secret redacted).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading

from lmsys.kaggle import KaggleError
from lmsys.kaggle.credentials import secret_values

# Lines the client prints on failure while exiting 0 (kaggle 2.2).
EXIT0_ERROR_PATTERNS = (
    r"^(?:Dataset|Kernel|Model)[A-Za-z ]* error: .*",         # Dataset creation error:, Kernel push error:, ...
    r"^The following are not valid .*",                      # invalid dataset/kernel/competition sources
    r"^Could not find competition.*",
    r"^Could not submit to competition.*",
    r"^Upload unsuccessful: .*",
    r"^Upload of .* expired.*",
    r"^Server returned \d+\. Please try again\..*",
    r"^Authentication required to call the Kaggle API.*",
)
_EXIT0_ERROR = re.compile("|".join(f"(?:{p})" for p in EXIT0_ERROR_PATTERNS), re.MULTILINE)
DEFAULT_TIMEOUT_S = 3600


class KaggleCommandError(KaggleError):
    """`kaggle ...` failed (non-zero exit or an error text); `.output` is the redacted client output."""

    def __init__(self, args, message, output="", returncode=None):
        self.args_list, self.output, self.returncode = list(args), output, returncode
        super().__init__(f"`kaggle {' '.join(args)}` failed: {message}")


def kaggle_command() -> list[str]:
    """The installed `kaggle` CLI: the one beside this Python first (same venv), then PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "kaggle")
    if os.access(beside, os.X_OK):
        return [beside]
    found = shutil.which("kaggle")
    if found:
        return [found]
    return [sys.executable, "-m", "kaggle"]


def redact(text: str, environ=None, secrets=None) -> str:
    """`text` with every form of every Kaggle secret (credentials.secret_values) replaced by ***."""
    for secret in secret_values(environ) if secrets is None else secrets:
        text = text.replace(secret, "***")
    return text


def exit0_error(output: str) -> str | None:
    """The first error line the client printed while exiting 0, or None."""
    match = _EXIT0_ERROR.search(output)
    return match.group(0).strip() if match else None


def _pump(stream, chunks: list, echo: bool, secrets) -> None:
    """Collect the client's output; with echo, pass it on as it comes (upload/download progress bars)."""
    pending = ""
    for piece in iter(lambda: stream.read(256), ""):
        chunks.append(piece)
        if echo:
            pending += piece
            cut = max(pending.rfind("\n"), pending.rfind("\r")) + 1  # whole lines only, so redaction sees whole keys
            if cut:
                sys.stdout.write(redact(pending[:cut], secrets=secrets))
                sys.stdout.flush()
                pending = pending[cut:]
    if echo and pending:
        sys.stdout.write(redact(pending, secrets=secrets) + "\n")


def run_kaggle(args, env=None, timeout=DEFAULT_TIMEOUT_S, echo=False) -> str:
    """Run `kaggle ARGS`; return its (redacted) stdout+stderr, or raise KaggleCommandError."""
    args = [str(a) for a in args]
    environ = dict(os.environ if env is None else env)
    environ.setdefault("PYTHONUNBUFFERED", "1")
    try:
        proc = subprocess.Popen(kaggle_command() + args, env=environ, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace")
    except FileNotFoundError as exc:
        raise KaggleCommandError(args, f"the kaggle client is not installed ({exc}); "
                                 "pip install 'kaggle>=2.2,<2.3'") from None
    chunks: list = []
    secrets = secret_values(environ)
    reader = threading.Thread(target=_pump, args=(proc.stdout, chunks, echo, secrets), daemon=True)
    reader.start()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise KaggleCommandError(args, f"no answer within {timeout} s") from None
    finally:
        reader.join(timeout=10)
    output = redact("".join(chunks), secrets=secrets)
    if proc.returncode != 0:
        lines = [ln for ln in output.strip().splitlines() if ln.strip()]
        reason = exit0_error(output) or (lines[-1] if lines else "no output")
        raise KaggleCommandError(args, f"exit {proc.returncode}: {reason}", output, proc.returncode)
    error = exit0_error(output)
    if error:
        raise KaggleCommandError(args, error, output, proc.returncode)
    return output
