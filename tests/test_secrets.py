"""Redaction of anything shaped like a private key (botmm/secrets.py), whether or not that key was ever loaded: in
plain text, in what is written through the redacting output streams, in every log line and traceback, and the
refusal of command-line arguments and config values holding one."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from omegaconf import OmegaConf

from botmm.errors import ConfigError
from botmm.logs import setup_logging
from botmm.secrets import (SECP256K1_ORDER, RedactingStream, install_redaction, redact, refuse_keys_in_arguments,
                           refuse_keys_in_config)

KEY = "9f" + "3a1c" * 15 + "e7"  # never loaded by any test: redaction must not depend on loading
keys = st.integers(1, SECP256K1_ORDER - 1).map(lambda n: f"{n:064x}")
spellings = st.sampled_from([lambda k: k, lambda k: "0x" + k, lambda k: "0X" + k.upper(), str.upper,
                             lambda k: "0x" + "".join(c.upper() if i % 2 else c for i, c in enumerate(k))])


pytestmark = pytest.mark.usefixtures("restore_root_logger")


@given(key=keys, spell=spellings, before=st.text(max_size=30), after=st.text(max_size=30))
def test_a_key_in_any_spelling_inside_any_text_is_masked(key: str, spell, before: str, after: str) -> None:
    clean = redact(before + spell(key) + after)
    assert key not in clean.lower() and "***" in clean


@pytest.mark.parametrize(("text", "expected"), [
    (f"GET https://host/api?k=0x{KEY}&x=1", "GET https://host/api?k=***&x=1"),
    (repr({"account": "0x" + KEY.upper(), "n": 1}), "{'account': '***', 'n': 1}"),
    (f"int {int(KEY, 16)} out of range", "int *** out of range"),  # the decimal rendering of a key is a digit run
    (f"hash 0x{'ab' * 31}", f"hash 0x{'ab' * 31}"),  # 62 hex digits: not a key, kept
    ("order 123 at 2999.5", "order 123 at 2999.5"),
])
def test_redaction_keeps_the_text_around_the_key(text: str, expected: str) -> None:
    assert redact(text) == expected


@given(key=keys, spell=spellings, cuts=st.lists(st.integers(0, 120), max_size=6))
def test_a_key_written_in_pieces_through_the_stream_is_masked(key: str, spell, cuts: list[int]) -> None:
    text = f"error: {spell(key)} rejected\n"
    sink = io.StringIO()
    stream = RedactingStream(sink)
    bounds = sorted({0, len(text), *(c for c in cuts if c < len(text))})
    for start, end in zip(bounds, bounds[1:]):
        stream.write(text[start:end])
    stream.flush()
    assert sink.getvalue() == redact(text) == "error: *** rejected\n"


def test_the_stream_refuses_bytes_and_passes_attributes_through() -> None:
    sink = io.StringIO()
    stream = RedactingStream(sink)
    with pytest.raises(TypeError):
        stream.write(b"")  # click probes streams this way to tell text from binary
    assert stream.isatty() is False and stream.getvalue() == ""


def _log_everything(logger: logging.Logger) -> None:
    logger.warning("account %s", "0x" + KEY)
    logger.info("payload %r", {"key": KEY.upper()})
    try:
        raise ValueError(f"cannot sign with {KEY}")
    except ValueError:
        logger.exception("failed")
    logger.error("stack", stack_info=True, extra={"event": f"leak {KEY}"})


@pytest.mark.parametrize("as_json", [False, True])
def test_every_log_line_and_traceback_is_masked(tmp_path: Path, as_json: bool,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging({"json": as_json, "color": False}, tmp_path, "ETH")
    logger = logging.getLogger("botmm.test.secrets")
    _log_everything(logger)
    text = (tmp_path / "botmm.log").read_text()
    console = capsys.readouterr().out
    assert KEY not in text.lower() and KEY not in console.lower()
    assert "ValueError: cannot sign with ***" in console and "account ***" in console
    if as_json:
        lines = [json.loads(line) for line in text.splitlines()]
        assert lines[0]["message"] == "account ***" and lines[1]["message"] == "payload {'key': '***'}"
        assert lines[2]["exc"].endswith("ValueError: cannot sign with ***") and lines[3]["event"] == "leak ***"
    else:
        assert "account ***" in text and "payload {'key': '***'}" in text and "cannot sign with ***" in text


def test_a_handler_added_by_other_code_is_masked_too(tmp_path: Path) -> None:
    handler = logging.FileHandler(tmp_path / "other.log")
    handler.setFormatter(logging.Formatter("%(message)s"))
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)
    install_redaction()
    _log_everything(logging.getLogger("sdk"))
    handler.flush()
    text = (tmp_path / "other.log").read_text()
    assert KEY not in text.lower()
    assert text.splitlines()[0] == "account ***" and "ValueError: cannot sign with ***" in text


def test_an_uncaught_traceback_and_prints_are_masked_once_output_is_redacted() -> None:
    code = ("from botmm.secrets import redact_output\nredact_output()\nimport sys, warnings\n"
            f"print('0x{KEY}', end='')\nsys.stderr.write('{KEY[:30]}')\nsys.stderr.write('{KEY[30:]}\\n')\n"
            f"warnings.warn('{KEY.upper()}')\nraise RuntimeError('boom 0x{KEY}')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stdout == "***"
    assert KEY not in proc.stderr.lower()
    assert "UserWarning: ***" in proc.stderr and proc.stderr.rstrip().endswith("RuntimeError: boom ***")


@pytest.mark.parametrize(("args", "named"), [
    (["exchange=hl_testnet", f"exchange.account_address=0x{KEY}"], "exchange.account_address"),
    ([f"+notes={KEY.upper()}"], "+notes"),
    ([f"hydra.run.dir=out/{KEY}"], "hydra.run.dir"),
    ([f"0x{KEY}"], "a command-line argument"),
])
def test_an_argument_holding_a_key_is_refused_by_name(args: list[str], named: str) -> None:
    with pytest.raises(ConfigError) as err:
        refuse_keys_in_arguments(args)
    assert str(err.value).startswith(f"{named}: holds what looks like a private key; refused before anything is "
                                      "written or printed")
    assert KEY not in str(err.value).lower()


def test_arguments_without_a_key_pass() -> None:
    refuse_keys_in_arguments(["exchange=hl_testnet", f"exchange.account_address=0x{'ab' * 20}", "--cfg", "job"])


def test_a_config_value_holding_a_key_is_refused_also_through_an_interpolation(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOTMM_TEST_LEAK", "0x" + KEY)
    cfg = OmegaConf.create({"exchange": {"account_address": "${oc.env:BOTMM_TEST_LEAK}"}, "levels": [1, "x"]})
    with pytest.raises(ConfigError, match=r"^exchange\.account_address: holds what looks like a private key"):
        refuse_keys_in_config(cfg)
    cfg = OmegaConf.create({"logging": {"levels": [{"a": f"x{KEY}y"}]}})
    with pytest.raises(ConfigError, match=r"^logging\.levels\[0\]\.a: holds"):
        refuse_keys_in_config(cfg)
    refuse_keys_in_config(OmegaConf.create({"asset": {"symbol": "ETH"}, "broken": "${oc.env:BOTMM_NOT_SET_EVER}"}))


def test_a_malformed_log_call_stays_a_logging_error_not_an_exception(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging({"color": False}, tmp_path, "ETH")
    logging.getLogger("botmm.test.secrets").warning("two %s %s", "0x" + KEY)  # one argument short
    logging.getLogger("botmm.test.secrets").warning("after %s", KEY)
    assert "after ***" in capsys.readouterr().out and (tmp_path / "botmm.log").read_text().endswith("after ***\n")
