"""Find which Kaggle credentials the `kaggle` client will use, and the owner they belong to.

The key itself is only checked for presence: it is never returned, printed, logged or written
anywhere by this project (the client reads it by itself).
"""

from __future__ import annotations

import base64
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


def _read_secret_file(path) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read(1 << 16)
    except OSError:
        return ""


def secret_values(environ=None) -> list[str]:
    """Secrets that must never appear in any message we print (used to redact client output), in every form
    the client reads or sends them: KAGGLE_KEY, kaggle.json's key, KAGGLE_API_TOKEN (a token, or a file holding
    one), ~/.kaggle/access_token(.txt), KAGGLE_API_V1_TOKEN's file, ~/.kaggle/credentials.json's tokens, each as
    given and with surrounding whitespace stripped, and the Basic authorization header's base64 of user:key."""
    env = os.environ if environ is None else environ
    home = env.get("HOME") or os.path.expanduser("~")
    keys = [env.get("KAGGLE_KEY", "")]
    users = {env.get("KAGGLE_USERNAME", "")}
    path = os.path.join(config_dir(env), "kaggle.json")
    if os.path.isfile(path):
        try:
            with open(path, encoding="utf-8") as fh:
                values = json.load(fh)
            if isinstance(values, dict):
                keys.append(str(values.get("key") or ""))
                users.add(str(values.get("username") or ""))
        except (OSError, ValueError):
            pass
    tokens = []
    token_env = env.get("KAGGLE_API_TOKEN", "")
    tokens.append(token_env)
    if token_env and os.path.isfile(token_env):
        tokens.append(_read_secret_file(token_env))
    for name in ("access_token", "access_token.txt"):
        tokens.append(_read_secret_file(os.path.join(home, ".kaggle", name)))
    if env.get("KAGGLE_API_V1_TOKEN") and os.path.isfile(env["KAGGLE_API_V1_TOKEN"]):
        tokens.append(_read_secret_file(env["KAGGLE_API_V1_TOKEN"]))
    creds = os.path.join(home, ".kaggle", "credentials.json")
    if os.path.isfile(creds):
        try:
            values = json.loads(_read_secret_file(creds))
            if isinstance(values, dict):
                tokens += [str(v) for k, v in values.items() if "token" in k and isinstance(v, str)]
        except ValueError:
            pass
    secrets = set()
    for value in keys + tokens:
        for form in (value, value.strip()):
            if len(form.strip()) >= 4:
                secrets.add(form)
    for key in {k.strip() for k in keys if k.strip()}:
        for user in {u.strip() for u in users} | {u for u in users}:
            if user:
                basic = base64.b64encode(f"{user}:{key}".encode()).decode()
                secrets.update({basic, basic.rstrip("=")})
    # Longest first, so a secret containing another is blanked whole.
    return sorted(secrets, key=len, reverse=True)
