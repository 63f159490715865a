"""Binance-only rules of the fake, through the REAL ccxt binance client: what ccxt sends
(binance.py create_order_request ~6965, sign() ~12479) and what Binance answers to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import pytest
from module_loading import load_by_path

venues = load_by_path("_oxbot_exchange_tests_venues", Path(__file__).with_name("venues.py"))
SYM = venues.SYMBOL


@pytest.fixture
async def bn() -> AsyncIterator[Any]:
    v = await venues.open_venue("binance")
    yield v
    await venues.close_venue(v)


async def test_what_ccxt_sends_with_an_order(bn: Any) -> None:
    await bn.client.create_order(SYM, "market", "buy", 0.01)
    await bn.client.create_order(SYM, "limit", "buy", 0.01, 90)
    market, limit = bn.sent("create")
    # newOrderRespType FULL for market and limit (options ~1426, sent ~7109); recvWindow
    # 10000 (options ~1423, sign() adds it); a broker id when none is given (~6841).
    assert {
        k: market[k] for k in ("type", "side", "quantity", "newOrderRespType", "recvWindow")
    } == {
        "type": "MARKET",
        "side": "BUY",
        "quantity": "0.01",
        "newOrderRespType": "FULL",
        "recvWindow": "10000",
    }
    assert market["newClientOrderId"].startswith("x-TKT5PX2F")
    assert (limit["newOrderRespType"], limit["timeInForce"], limit["price"]) == (
        "FULL",
        "GTC",
        "90",
    )


async def test_ack_and_result_replies(bn: Any) -> None:
    ack = await bn.client.create_order(
        SYM, "market", "buy", 0.01, None, {"newOrderRespType": "ACK"}
    )
    # ACK: ids and transactTime only (docs). ccxt: status None but filled 0.0 (!), no amount.
    assert (ack["status"], ack["filled"], ack["amount"], ack["trades"]) == (None, 0.0, None, [])
    result = await bn.client.create_order(
        SYM, "market", "buy", 0.01, None, {"newOrderRespType": "RESULT"}
    )
    # RESULT: the order's state, no fills: ccxt has no fee.
    assert (result["status"], result["filled"], result["fee"]) == ("closed", 0.01, None)
    assert bn.fake.orders[int(ack["id"])].status == "FILLED"  # ACK said nothing of it


async def test_bnb_fees_are_a_third_asset(bn: Any) -> None:
    bn.fake.fee_mode = "bnb"
    bn.fake.balances["BNB"] = Decimal("1")
    buy = await bn.client.create_order(SYM, "market", "buy", 0.01)
    # 1 USDT notional x 0.1 % x 0.75 (BNB discount) / 300 USDT per BNB
    assert buy["fee"] == {"currency": "BNB", "cost": 2.5e-06}
    assert bn.fake.balances == {
        "USDT": Decimal("999999"),
        "BTC": Decimal("0.01"),
        "BNB": Decimal("0.9999975"),
    }
    bn.fake.balances["BNB"] = Decimal(0)  # not enough BNB: the asset received pays
    again = await bn.client.create_order(SYM, "market", "buy", 0.01)
    assert again["fee"] == {"currency": "BTC", "cost": 1e-05}


async def test_quote_fee_mode_for_tests_that_need_it(bn: Any) -> None:
    bn.fake.fee_mode = "quote"
    buy = await bn.client.create_order(SYM, "market", "buy", 0.01)
    assert buy["fee"] == {"currency": "USDT", "cost": 0.001}
    assert bn.fake.balances == {"USDT": Decimal("999998.999"), "BTC": Decimal("0.01")}


@pytest.mark.parametrize(
    "offset_ms,why", [(20_000, "outside of the recvWindow"), (-2_000, "1000ms ahead")]
)
async def test_a_timestamp_outside_the_window_is_refused(offset_ms: int, why: str, bn: Any) -> None:
    # Binance docs, timing security: -1021; ccxt: InvalidNonce (shared table).
    bn.fake.clock_offset_ms = offset_ms
    with pytest.raises(ccxt.InvalidNonce, match=why):
        await bn.client.create_order(SYM, "market", "buy", 0.01)
    assert bn.fake.orders == {}


async def test_keys(bn: Any) -> None:
    fake = bn.fake
    wrong_secret = venues.new_client("binance", fake, {"apiKey": fake.api_key, "secret": "nope"})
    wrong_key = venues.new_client("binance", fake, {"apiKey": "nope", "secret": fake.secret})
    try:
        for client in (wrong_secret, wrong_key):
            client.markets, client.markets_by_id = bn.client.markets, bn.client.markets_by_id
            with pytest.raises(ccxt.AuthenticationError):  # -1022 / -2015
                await client.fetch_balance()
    finally:
        await wrong_secret.close()
        await wrong_key.close()
    # Once a key has worked, ccxt reads -2015 as a temporary ban (binance.py ~12641,
    # 'hasAlreadyAuthenticatedSuccessfully'): a key revoked mid-session is DDoSProtection.
    await bn.client.fetch_balance()
    fake.api_key = "revoked"
    with pytest.raises(ccxt.DDoSProtection, match="-2015"):
        await bn.client.fetch_balance()


@pytest.mark.parametrize("coid", ["x" * 37, "bad#id"])
async def test_an_illegal_client_order_id_is_refused(coid: str, bn: Any) -> None:
    # Binance: -1100 "Illegal characters found in parameter 'newClientOrderId'"
    with pytest.raises(ccxt.BadRequest, match="-1100"):
        await bn.client.create_order(SYM, "market", "buy", 0.01, None, {"clientOrderId": coid})


async def test_a_market_buy_by_cost_sends_quote_order_qty(bn: Any) -> None:
    placed = await bn.client.create_market_buy_order_with_cost(SYM, 5)
    assert bn.sent("create")[-1]["quoteOrderQty"] == "5"  # options createOrder.quoteOrderQty
    assert (placed["status"], placed["filled"], placed["cost"]) == ("closed", 0.05, 5.0)


async def test_a_resting_limit_order_fills_once_the_market_reaches_it(bn: Any) -> None:
    rest = await bn.client.create_order(SYM, "limit", "buy", 0.01, 90)
    assert (await bn.client.fetch_balance())["USDT"]["used"] == 0.9
    bn.fake.price = Decimal("89")
    order = await bn.client.fetch_order(rest["id"], SYM)
    assert (order["status"], order["filled"], order["average"]) == ("closed", 0.01, 90.0)
    (trade,) = await bn.client.fetch_my_trades(SYM)
    assert (trade["takerOrMaker"], trade["fee"]["currency"]) == ("maker", "BTC")
    assert bn.fake.balances == {"USDT": Decimal("999999.1"), "BTC": Decimal("0.00999")}
