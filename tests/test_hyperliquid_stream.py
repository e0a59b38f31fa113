"""Routing of the Hyperliquid websocket's messages (plugins/exchanges/hyperliquid/stream.py) to the subscriptions'
handlers, on messages in the exchange's documented shapes. The connection itself (subscribe, ping, stall, reconnect)
is exercised against a loopback websocket server by tests/test_recorder.py, whose recorder runs on this stream."""

from __future__ import annotations

import json
from typing import Any

from botmm.plugins.exchanges.hyperliquid.stream import Stream, StreamSettings

USER = "0x" + "ab" * 20


def stream_with(*subscriptions: dict[str, Any]) -> tuple[Stream, list[tuple[str, Any]]]:
    stream = Stream(StreamSettings("ws://127.0.0.1:1/ws"))
    got: list[tuple[str, Any]] = []
    for sub in subscriptions:
        stream.subscribe(sub, lambda data, ns, name=json.dumps(sub, sort_keys=True): got.append((name, data)))
    return stream, got


def test_market_data_goes_to_its_coins_subscription_only() -> None:
    eth, btc = {"type": "l2Book", "coin": "ETH"}, {"type": "l2Book", "coin": "BTC"}
    stream, got = stream_with(eth, btc, {"type": "trades", "coin": "ETH"})
    book = {"coin": "BTC", "time": 1, "levels": [[{"px": "1", "sz": "2", "n": 1}], []]}
    trades = [{"coin": "ETH", "side": "B", "px": "3000", "sz": "0.1", "time": 2, "tid": 7, "hash": "0x0"}]
    assert stream.dispatch(json.dumps({"channel": "l2Book", "data": book}), 0)
    assert stream.dispatch(json.dumps({"channel": "trades", "data": trades}), 0)
    assert got == [(json.dumps(btc, sort_keys=True), book),
                   (json.dumps({"type": "trades", "coin": "ETH"}, sort_keys=True), trades)]


def test_account_channels_route_by_user_in_any_case() -> None:
    fills_sub = {"type": "userFills", "user": USER.upper().replace("0X", "0x")}
    stream, got = stream_with(fills_sub, {"type": "orderUpdates", "user": USER})
    fills = {"isSnapshot": True, "user": USER, "fills": []}
    updates = [{"order": {"coin": "ETH", "oid": 1, "cloid": None}, "status": "open", "statusTimestamp": 3}]
    other = {"isSnapshot": False, "user": "0x" + "cd" * 20, "fills": []}
    for channel, data in (("userFills", fills), ("orderUpdates", updates), ("userFills", other)):
        stream.dispatch(json.dumps({"channel": channel, "data": data}), 0)
    assert [data for _, data in got] == [fills, updates]


def test_acknowledgements_carry_no_data_and_a_bad_message_is_counted() -> None:
    stream, got = stream_with({"type": "l2Book", "coin": "ETH"})
    assert not stream.dispatch('{"channel": "pong"}', 0)
    assert not stream.dispatch('{"channel": "subscriptionResponse", "data": {"method": "subscribe"}}', 0)
    assert not stream.dispatch('{"channel": "l2Book", "data": []', 0)  # truncated
    assert not stream.dispatch('{"channel": "trades", "data": [{"px": "1"}]}', 0)  # no coin
    assert (stream.messages, stream.bad_messages, got) == (4, 2, [])
