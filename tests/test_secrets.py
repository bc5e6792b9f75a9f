"""No form of a Kaggle secret is ever printed (issue 13, item 2): the real client runs against
tests/fake_kaggle.py, the fake server echoes a secret in its error reply, and neither the error nor
anything printed may hold it."""

import base64

import pytest

from fake_kaggle import FAKE_KEY, FAKE_USER, fake_kaggle  # noqa: F401 (fixture)
from lmsys.kaggle import workflows
from lmsys.kaggle.cli import KaggleCommandError, redact

TOKEN = "kgat_0123456789abcdefTOKEN"


def _echoed(fake, capsys, secret):
    """Make the server answer with `secret` in its error text; return everything the user could see."""
    fake.replies["SaveKernel"] = {"error": f"bad request, credentials were {secret} (rejected)"}
    with pytest.raises(KaggleCommandError) as err:
        workflows.push_kernel("infer")
    out = capsys.readouterr()
    return "\n".join([str(err.value), err.value.output, out.out, out.err])


def test_a_key_with_surrounding_whitespace_is_redacted_when_printed_trimmed(fake_kaggle, monkeypatch, capsys):
    monkeypatch.setenv("KAGGLE_KEY", f"  {FAKE_KEY} \n")
    seen = _echoed(fake_kaggle, capsys, FAKE_KEY)
    assert FAKE_KEY not in seen and "***" in seen


def test_a_token_in_the_access_token_file_is_redacted(fake_kaggle, monkeypatch, capsys, tmp_path):
    token_file = tmp_path / "home" / ".kaggle" / "access_token"
    token_file.parent.mkdir(parents=True, exist_ok=True)
    token_file.write_text(TOKEN + "\n")
    seen = _echoed(fake_kaggle, capsys, TOKEN)
    assert TOKEN not in seen and "***" in seen


def test_a_token_in_a_file_named_by_kaggle_api_token_is_redacted(fake_kaggle, monkeypatch, capsys, tmp_path):
    token_file = tmp_path / "token.txt"
    token_file.write_text(TOKEN + "\n")
    monkeypatch.setenv("KAGGLE_API_TOKEN", str(token_file))
    seen = _echoed(fake_kaggle, capsys, TOKEN)
    assert TOKEN not in seen and "***" in seen


def test_the_basic_authorization_header_is_redacted(fake_kaggle, capsys):
    header = base64.b64encode(f"{FAKE_USER}:{FAKE_KEY}".encode()).decode()
    seen = _echoed(fake_kaggle, capsys, f"Authorization: Basic {header}")
    assert header not in seen and "Basic ***" in seen
    assert f"Basic {header}" in fake_kaggle.auth_headers  # what the client really sent


def test_redaction_covers_kaggle_json_and_its_basic_header(tmp_path):
    import json

    (tmp_path / "kaggle.json").write_text(json.dumps({"username": "u1", "key": " json-key-abcdef\n"}))
    env = {"HOME": str(tmp_path), "KAGGLE_CONFIG_DIR": str(tmp_path)}
    basic = base64.b64encode(b"u1:json-key-abcdef").decode()
    text = redact(f"key json-key-abcdef, header Basic {basic}, unpadded {basic.rstrip('=')}", env)
    assert "json-key-abcdef" not in text and basic.rstrip("=") not in text
    assert text.count("***") == 3
