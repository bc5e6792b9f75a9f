"""One way every command-line entry point (the invoke tasks) ends on a bad input or a fault: one line

    error: <what, naming the flag, file or row> (see invoke --help <task>)

on stderr and exit status 1, with the traceback only under `invoke --debug ...`, `LMSYS_DEBUG=1` or
`INVOKE_DEBUG=1`. Every message is redacted (no Kaggle secret can reach the terminal this way).
Errors outside the known classes are bugs and keep their traceback.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys

DEBUG_ENV = "LMSYS_DEBUG"


def known_errors() -> tuple:
    """Bad input or a fault outside the program: ValueError (DataError, SubmissionError, ModelFileError, a bad
    flag), OSError (a missing file, no permission, a full disk), KaggleError and other RuntimeErrors (a
    failed download, a device out of memory), RecursionError."""
    return (ValueError, OSError, RuntimeError, EOFError)


def debug_requested(argv=None, environ=None) -> bool:
    env = os.environ if environ is None else environ
    argv = sys.argv if argv is None else argv
    if any(env.get(name, "").strip().lower() in ("1", "true", "yes", "on") for name in (DEBUG_ENV, "INVOKE_DEBUG")):
        return True
    return "--debug" in argv or "-d" in argv[1:2]


def is_disk_full(exc: BaseException) -> bool:
    """ENOSPC anywhere in the exception's chain (libraries wrap it; h5py keeps only the text)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            return True
        if "No space left on device" in str(exc) or "errno = 28" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


class DiskFullError(OSError):
    """The disk filled up (ENOSPC) during a run; the message names the directory."""

    def __init__(self, message: str):
        super().__init__(message)
        self.errno = errno.ENOSPC


def disk_full_error(directory, exc: BaseException, doing: str = "training") -> DiskFullError:
    import shutil

    directory = os.path.abspath(os.fspath(directory))
    try:
        free = f"{shutil.disk_usage(os.path.dirname(directory) if not os.path.isdir(directory) else directory).free:,}"
    except OSError:
        free = "unknown"
    return DiskFullError(f"no space left on the device holding {directory} while {doing} ({free} bytes free); "
                         "free some space and run again (files are written to temporaries and renamed, so the "
                         "directory holds the last complete state)")


def one_line(exc: BaseException) -> tuple[str, str]:
    """(the first line of the message, the rest): a FileNotFoundError from open() gets its file named."""
    if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in str(exc.args[-1] if exc.args else ""):
        text = f"{exc.filename}: {exc.strerror or exc}"
    else:
        text = str(exc) or type(exc).__name__
    try:
        from lmsys.kaggle.cli import redact

        text = redact(text)
    except Exception:  # noqa: BLE001 - redaction never stops an error from being reported
        pass
    first, _, rest = text.strip().partition("\n")
    return first.strip(), rest.strip()


@contextlib.contextmanager
def cli_errors(task: str, stream=None):
    """Wrap a task's body: known errors become one line on stderr and SystemExit(1)."""
    try:
        yield
    except KeyboardInterrupt:
        print(f"error: interrupted (invoke {task})", file=stream or sys.stderr)
        raise SystemExit(130) from None
    except known_errors() as exc:
        if debug_requested():
            raise
        first, rest = one_line(exc)
        out = stream or sys.stderr
        print(f"error: {first} (see invoke --help {task})", file=out)
        if rest:
            print(rest, file=out)
        out.flush()
        if is_disk_full(exc) and _run_by_invoke():
            # A full disk once ended in a segfault while library threads (tf.data, XLA) shut down: leave now.
            sys.stdout.flush()
            os._exit(1)
        raise SystemExit(1) from None


def _run_by_invoke() -> bool:
    return os.path.basename(sys.argv[0] if sys.argv else "") in ("invoke", "inv")


def number_flag(flag: str, value, default, kind=float, minimum=None):
    """A numeric flag given as text (invoke casts by the default's type, so such defaults are None here):
    `default` when not given, else `kind(value)` with an error naming the flag."""
    if value is None:
        return default
    try:
        number = kind(str(value).strip())
    except ValueError:
        noun = "an integer" if kind is int else "a number"
        raise ValueError(f"{flag}: expected {noun}, got {value!r}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"{flag}: expected a finite number, got {value!r}")
    if minimum is not None and number < minimum:
        raise ValueError(f"{flag}: expected at least {minimum}, got {value!r}")
    return number
