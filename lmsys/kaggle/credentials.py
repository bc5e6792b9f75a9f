"""Find which Kaggle credentials the `kaggle` client will use, and the owner they belong to.

The key itself is only checked for presence: it is never returned, printed, logged or written
anywhere by this project (the client reads it by itself).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from lmsys.kaggle import KaggleError

HOW_TO = (
    "No Kaggle credentials found. Set them in one of these ways:\n"
    "  1. export KAGGLE_USERNAME=<your user name> KAGGLE_KEY=<your API key>\n"
    "  2. save kaggle.json ({\"username\": ..., \"key\": ...}, from kaggle.com -> Settings -> API ->\n"
    "     Create New Token) as $KAGGLE_CONFIG_DIR/kaggle.json or ~/.kaggle/kaggle.json, chmod 600\n"
    "  3. export KAGGLE_API_TOKEN=<access token> (plus KAGGLE_USERNAME=<your user name>, the owner\n"
    "     of the datasets and kernels this project pushes)"
)


class MissingCredentialsError(KaggleError):
    """No usable Kaggle credentials; the message says how to set them."""


@dataclass(frozen=True)
class Credentials:
    """Who we act as, and where that came from. Holds no secret on purpose."""

    username: str
    source: str


def config_dir(environ=None) -> str:
    """The directory the client reads kaggle.json from (same rule as kaggle 2.2)."""
    env = os.environ if environ is None else environ
    if env.get("KAGGLE_CONFIG_DIR"):
        return env["KAGGLE_CONFIG_DIR"]
    home = env.get("HOME") or os.path.expanduser("~")
    legacy = os.path.join(home, ".kaggle")
    if os.path.exists(legacy):
        return legacy
    return os.path.join(env.get("XDG_CONFIG_HOME") or os.path.join(home, ".config"), "kaggle")


def _read_kaggle_json(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            values = json.load(fh)
    except (OSError, ValueError) as exc:
        raise MissingCredentialsError(f"{path}: unreadable kaggle.json ({type(exc).__name__}); "
                                      f"it must be JSON with 'username' and 'key'\n\n{HOW_TO}") from None
    if not isinstance(values, dict):
        raise MissingCredentialsError(f"{path}: kaggle.json must be a JSON object\n\n{HOW_TO}")
    return values


def find_credentials(environ=None) -> Credentials:
    """Return the user name the client will act as; raise MissingCredentialsError with help if none."""
    env = os.environ if environ is None else environ
    user_env = env.get("KAGGLE_USERNAME", "").strip()
    if user_env and env.get("KAGGLE_KEY", "").strip():
        return Credentials(user_env, "KAGGLE_USERNAME/KAGGLE_KEY")
    path = os.path.join(config_dir(env), "kaggle.json")
    if os.path.isfile(path):
        values = _read_kaggle_json(path)
        username = str(values.get("username") or user_env).strip()
        if username and (values.get("key") or env.get("KAGGLE_KEY")):
            return Credentials(username, path)
        missing = "username" if not username else "key"
        raise MissingCredentialsError(f"{path}: no {missing!r} in kaggle.json\n\n{HOW_TO}")
    home = env.get("HOME") or os.path.expanduser("~")
    token_file = os.path.join(home, ".kaggle", "access_token")
    if env.get("KAGGLE_API_TOKEN", "").strip() or os.path.isfile(token_file):
        if user_env:
            return Credentials(user_env, "KAGGLE_API_TOKEN" if env.get("KAGGLE_API_TOKEN") else token_file)
        raise MissingCredentialsError(
            "A Kaggle access token is set but no user name: export KAGGLE_USERNAME=<your user name> "
            "(the owner of the datasets and kernels this project pushes).")
    raise MissingCredentialsError(HOW_TO)


def secret_values(environ=None) -> list[str]:
    """Secrets that must never appear in any message we print (used to redact client output)."""
    env = os.environ if environ is None else environ
    secrets = [env.get("KAGGLE_KEY", ""), env.get("KAGGLE_API_TOKEN", "")]
    path = os.path.join(config_dir(env), "kaggle.json")
    if os.path.isfile(path):
        try:
            with open(path, encoding="utf-8") as fh:
                values = json.load(fh)
            if isinstance(values, dict):
                secrets.append(str(values.get("key") or ""))
        except (OSError, ValueError):
            pass
    return [s for s in secrets if len(s) >= 4]
