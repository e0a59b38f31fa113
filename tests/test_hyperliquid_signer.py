"""The fast L1 signer signs every action exactly as the SDK's ``sign_l1_action`` does, and falls back to the SDK's
signing when the two ever disagree."""

from __future__ import annotations

import logging

from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st
from hyperliquid.utils.signing import order_request_to_order_wire, recover_agent_or_user_from_l1_action, sign_l1_action
from hyperliquid.utils.types import Cloid

from botmm.plugins.exchanges.hyperliquid import signer as signer_module
from botmm.plugins.exchanges.hyperliquid.signer import L1Signer

keys = st.binary(min_size=32, max_size=32).filter(lambda b: 0 < int.from_bytes(b, "big") < 2 ** 256 - 2 ** 129)
prices = st.decimals(min_value="0.0001", max_value="200000", places=4).map(float)
sizes = st.decimals(min_value="0.0001", max_value="10000", places=4).map(float)


@st.composite
def orders(draw: st.DrawFn) -> dict:
    request = {"coin": "ETH", "is_buy": draw(st.booleans()), "sz": draw(sizes), "limit_px": draw(prices),
               "order_type": {"limit": {"tif": draw(st.sampled_from(["Alo", "Gtc", "Ioc"]))}},
               "reduce_only": draw(st.booleans()), "cloid": Cloid(f"0x{draw(st.integers(0, 2 ** 128 - 1)):032x}")}
    return order_request_to_order_wire(request, draw(st.integers(0, 300)))


actions = st.one_of(
    st.builds(lambda wires: {"type": "order", "orders": wires, "grouping": "na"}, st.lists(orders(), min_size=1,
                                                                                         max_size=5)),
    st.builds(lambda mods: {"type": "batchModify", "modifies": mods},
              st.lists(st.builds(lambda oid, wire: {"oid": oid, "order": wire}, st.integers(1, 2 ** 63), orders()),
                       min_size=1, max_size=5)),
    st.builds(lambda cancels: {"type": "cancel", "cancels": cancels},
              st.lists(st.builds(lambda a, o: {"a": a, "o": o}, st.integers(0, 300), st.integers(1, 2 ** 63)),
                       min_size=1, max_size=40)),
    st.builds(lambda t: {"type": "scheduleCancel", "time": t}, st.integers(1_700_000_000_000, 2_000_000_000_000)),
)


@settings(max_examples=150, deadline=None)
@given(key=keys, action=actions, nonce=st.integers(1, 2 ** 63 - 1), mainnet=st.booleans())
def test_signatures_equal_the_sdks(key: bytes, action: dict, nonce: int, mainnet: bool) -> None:
    wallet = Account.from_key(key)
    signer = L1Signer(wallet, mainnet)
    assert signer.fast
    signature = signer.sign(action, nonce)
    assert signature == sign_l1_action(wallet, action, None, nonce, None, mainnet)
    assert recover_agent_or_user_from_l1_action(action, signature, None, nonce, None, mainnet) == wallet.address


def test_a_signer_that_disagrees_with_the_sdk_signs_with_the_sdk(monkeypatch, caplog) -> None:
    monkeypatch.setattr(signer_module, "STRUCT_TYPE", b"Agent(string source,bytes32 connection)")  # a changed type
    wallet = Account.from_key(b"\x07" * 32)
    action = {"type": "cancel", "cancels": [{"a": 1, "o": 42}]}
    with caplog.at_level(logging.WARNING, logger="botmm.hyperliquid"):
        signer = L1Signer(wallet, False)
    assert not signer.fast
    assert ["the SDK signs actions differently from botmm's fast signer: using the SDK's (about 1 ms more per "
            "action)"] == [r.getMessage() for r in caplog.records]
    assert signer.sign(action, 5) == sign_l1_action(wallet, action, None, 5, None, False)
    assert signer._sign_fast(action, 5) != signer.sign(action, 5)  # the fast path would have signed wrongly
