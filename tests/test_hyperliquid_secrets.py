"""Keys from an environment variable or a key file, never shown, checked before anything connects (botmm/secrets.py);
the Hyperliquid params' mainnet detection and key-shaped account addresses; mainnet's explicit risk limits."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

from typing import Iterator

import pytest

from botmm.config import to_params
from botmm.errors import ConfigError
from botmm.plugins.exchanges.hyperliquid.config import HyperliquidParams
from botmm.secrets import (KEY_HELP, MASK, REDACTOR, SECP256K1_ORDER, Secret, install_redaction, load_key,
                           redact)

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
        key_file.chmod(0o600)
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


@pytest.mark.parametrize("number", [0, SECP256K1_ORDER, SECP256K1_ORDER + 1, 2**256 - 1])
def test_a_64_hex_key_outside_the_curve_is_refused_at_config_check(monkeypatch: pytest.MonkeyPatch,
                                                                   number: int) -> None:
    value = f"0x{number:064x}"
    monkeypatch.setenv("BOTMM_TEST_KEY", value)
    with pytest.raises(ConfigError) as err:
        load_key("BOTMM_TEST_KEY", None)
    assert str(err.value) == ("exchange.key_env=BOTMM_TEST_KEY: is not a valid secp256k1 private key (zero, or not "
                              "below the curve order); use the key your wallet exported")


@pytest.mark.parametrize("number", [1, SECP256K1_ORDER - 1])
def test_the_curve_order_bounds_are_exact(monkeypatch: pytest.MonkeyPatch, number: int) -> None:
    monkeypatch.setenv("BOTMM_TEST_KEY", f"{number:064X}")
    assert load_key("BOTMM_TEST_KEY", None).reveal() == f"0x{number:064X}"
    assert redact(f"order {number} at 2999.5") == f"order {number if number < 10**64 else MASK} at 2999.5"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o620, 0o602, 0o610, 0o601])
def test_a_key_file_open_to_group_or_others_is_refused_before_reading_it(tmp_path: Path, mode: int) -> None:
    key_file = tmp_path / "hl.key"
    key_file.write_text("not a key at all")  # refused for its mode, so its content is never looked at
    key_file.chmod(mode)
    with pytest.raises(ConfigError) as err:
        load_key(None, str(key_file))
    assert str(err.value) == (f"exchange.key_file={key_file}: is accessible by group or others (mode {mode:04o}), "
                              f"refused as ssh refuses such a key file; run: chmod 600 {key_file}")


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_a_key_file_only_the_owner_can_read_is_accepted(tmp_path: Path, mode: int) -> None:
    key_file = tmp_path / "hl.key"
    key_file.write_text(KEY)
    key_file.chmod(mode)
    assert load_key(None, str(key_file)).reveal() == KEY


@pytest.mark.parametrize("value", [KEY, KEY[2:].upper(), f"0x{'ab' * 20}{'cd' * 12}"])
def test_a_key_pasted_into_account_address_is_refused_without_echoing_it(value: str) -> None:
    with pytest.raises(ConfigError) as err:
        to_params(HyperliquidParams, {"name": "hyperliquid", "account_address": value}, "exchange")
    assert str(err.value) == ("exchange.account_address=***: holds what looks like a private key, not an address; "
                              f"{KEY_HELP}")


def test_a_malformed_address_is_still_named_with_its_value() -> None:
    with pytest.raises(ConfigError, match=r"^exchange\.account_address=0x12: must be a 0x-prefixed 40-hex-digit"):
        to_params(HyperliquidParams, {"name": "hyperliquid", "account_address": "0x12"}, "exchange")


@pytest.mark.parametrize("url", [
    "https://api.hyperliquid.xyz", "https://API.hyperliquid.xyz.:443", "https://api.hyperliquid.xyz./",
    "https://user:pass@api.hyperliquid.xyz:443/", "HTTPS://Api.HyperLiquid.XYZ", "http://api.hyperliquid.xyz",
    "https://api.hyperliquid.xyz%2e", "https://api\u3002hyperliquid\u3002xyz", "https://hyperliquid.xyz",
])
def test_every_spelling_of_the_mainnet_host_is_mainnet_and_signs_as_mainnet(url: str) -> None:
    from hyperliquid.utils.constants import MAINNET_API_URL

    params = HyperliquidParams(name="hyperliquid", base_url=url)
    assert params.is_mainnet
    assert params.base_url == MAINNET_API_URL  # the SDK signs with mainnet rules only for this exact string


@pytest.mark.parametrize("url", ["https://api.hyperliquid-testnet.xyz", "http://127.0.0.1:8080",
                                 "https://api.hyperliquid.xyz.evil.example", "https://evilhyperliquid.xyz",
                                 "https://api.hyperliquid.xyz@127.0.0.1:9/"])
def test_other_hosts_are_not_mainnet_and_keep_their_url(url: str) -> None:
    params = HyperliquidParams(name="hyperliquid", base_url=url)
    assert not params.is_mainnet and params.base_url == url.rstrip("/")


MAINNET = ["exchange=hl_mainnet", "exchange.confirm_mainnet=true"]


@pytest.fixture
def clean_hydra_config(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from hydra.core.hydra_config import HydraConfig

    from botmm.registry import load_plugins

    load_plugins()  # as the CLI does before composing: plugins' schemas and presets
    monkeypatch.setenv("HL_PRIVATE_KEY", KEY)
    HydraConfig.instance().cfg = None
    yield
    HydraConfig.instance().cfg = None


@pytest.mark.parametrize(("overrides", "message"), [
    ([], "risk.max_order_usd: Hyperliquid mainnet needs explicit risk limits; add risk.max_order_usd=<USD> "
         "risk.max_position_usd=<USD> to the command line"),
    (["risk.max_order_usd=200"], "risk.max_position_usd: Hyperliquid mainnet needs explicit risk limits; add "
                                 "risk.max_position_usd=<USD> to the command line"),
    (["risk.max_position_usd=1000"], "risk.max_order_usd: Hyperliquid mainnet needs explicit risk limits; add "
                                     "risk.max_order_usd=<USD> to the command line"),
    (["risk.max_order_usd=null", "risk.max_position_usd=1000"],
     "risk.max_order_usd=null: Hyperliquid mainnet needs a per-order cap in USD"),
], ids=["none", "no-position-limit", "no-order-cap", "null-order-cap"])
def test_mainnet_refuses_limits_not_given_on_the_command_line(clean_hydra_config, overrides: list[str],
                                                              message: str) -> None:
    from botmm.job_commands import _check, _compose

    cfg = _compose("run", [*MAINNET, *overrides])
    assert cfg.risk.max_position_usd == 1000.0  # the asset preset's value is there, but not the user's choice
    with pytest.raises(ConfigError) as err:
        _check("run", cfg)
    assert str(err.value) == message


@pytest.mark.parametrize("limits", [["risk.max_order_usd=200", "risk.max_position_usd=1000"],
                                    ["++risk.max_order_usd=50", "risk.max_position_usd=300", "asset=btc"]])
def test_mainnet_with_explicit_limits_passes_the_check(clean_hydra_config, limits: list[str]) -> None:
    from botmm.job_commands import _check, _compose

    cfg = _compose("run", [*MAINNET, *limits])
    _check("run", cfg)  # builds the venue without connecting


def test_mainnet_limits_outside_a_hydra_run_are_refused(clean_hydra_config) -> None:
    from jobs import compose_job

    from botmm.pipeline import build_components

    cfg = compose_job(*MAINNET, "risk.max_order_usd=200", "risk.max_position_usd=1000", name="run")
    with pytest.raises(ConfigError, match=r"^risk\.max_order_usd: Hyperliquid mainnet needs explicit risk limits"):
        build_components(cfg)
