"""Keys from an environment variable or a key file, never shown: botmm/secrets.py."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import pytest

from botmm.errors import ConfigError
from botmm.secrets import REDACTOR, Secret, install_redaction, load_key

KEY = "0x" + "ab" * 32


def test_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOTMM_TEST_KEY", KEY)
    secret = load_key("BOTMM_TEST_KEY", None)
    assert isinstance(secret, Secret) and secret.reveal() == KEY
    assert KEY not in repr(secret) and KEY not in f"{secret}" and KEY[2:] not in str(secret)
    with pytest.raises(TypeError):
        pickle.dumps(secret)


def test_key_file_wins_and_bare_hex_gets_0x(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOTMM_TEST_KEY", KEY)
    key_file = tmp_path / "hl.key"
    key_file.write_text("cd" * 32 + "\n")
    key_file.chmod(0o600)
    assert load_key("BOTMM_TEST_KEY", str(key_file)).reveal() == "0x" + "cd" * 32


@pytest.mark.parametrize(("env_value", "file_text", "expected"), [
    (None, None, "exchange.key_env=BOTMM_TEST_KEY: environment variable BOTMM_TEST_KEY is not set"),
    ("0x1234", None, "exchange.key_env=BOTMM_TEST_KEY: does not hold a private key"),
    ("zz" * 32, None, "exchange.key_env=BOTMM_TEST_KEY: does not hold a private key"),
    (None, "0x" + "12" * 31, "does not hold a private key"),
])
def test_bad_or_missing_key_is_one_line_without_the_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          env_value, file_text, expected: str) -> None:
    monkeypatch.delenv("BOTMM_TEST_KEY", raising=False)
    if env_value is not None:
        monkeypatch.setenv("BOTMM_TEST_KEY", env_value)
    key_file = None
    if file_text is not None:
        key_file = tmp_path / "hl.key"
        key_file.write_text(file_text)
    with pytest.raises(ConfigError) as err:
        load_key("BOTMM_TEST_KEY", str(key_file) if key_file else None)
    message = str(err.value)
    assert expected in message and "\n" not in message
    for secret in (env_value, file_text):
        if secret:
            assert secret not in message


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^exchange.key_file=.*nope.key: no such file$"):
        load_key("BOTMM_TEST_KEY", str(tmp_path / "nope.key"))


def test_log_records_are_redacted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key = "0x" + "5e" * 32
    monkeypatch.setenv("BOTMM_TEST_KEY", key)
    log_file = tmp_path / "run.log"
    handler = logging.FileHandler(log_file)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        load_key("BOTMM_TEST_KEY", None)
        install_redaction()
        assert REDACTOR in handler.filters
        logger = logging.getLogger("botmm.test")
        logger.warning("key %s and bare %s", key, key[2:].upper())
        try:
            raise ValueError(f"boom {key}")
        except ValueError:
            logger.exception("failed")
    finally:
        root.removeHandler(handler)
        handler.close()
    text = log_file.read_text()
    assert "key *** and bare ***" in text and "boom ***" in text
    assert key[2:] not in text.lower()


@pytest.mark.parametrize("field", ["key_env", "key_file"])
def test_a_key_given_where_a_name_belongs_is_refused_without_echoing_it(field: str) -> None:
    args = {"key_env": None, "key_file": None, field: KEY}
    with pytest.raises(ConfigError) as err:
        load_key(args["key_env"], args["key_file"])
    assert str(err.value) == (f"exchange.{field}: holds what looks like a private key; it must name an environment "
                              "variable or a file, never the key itself")
