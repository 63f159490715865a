"""OKX-only rules of the fake, through the REAL ccxt okx client: what ccxt sends (okx.py
create_order_request ~3102, create_order ~3390, sign() ~6482) and what OKX answers to it."""

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
BROKER = "6b9ad766b55dBCDE"  # okx.py options brokerId


@pytest.fixture
async def ok() -> AsyncIterator[Any]:
    v = await venues.open_venue("okx")
    yield v
    await venues.close_venue(v)


async def test_ccxt_places_through_batch_orders_in_base_units(ok: Any) -> None:
    await ok.client.create_order(SYM, "market", "buy", 0.01, None, {"clientOrderId": "mine1"})
    await ok.client.create_order(SYM, "market", "buy", 0.01)
    (mine,), (auto,) = ok.sent("create")  # a one-order ARRAY to batch-orders (options)
    # tdMode cash for spot without margin; tgtCcy = options tgtCcy, default base_ccy (~3214-3217)
    assert {
        k: mine[k] for k in ("instId", "tdMode", "side", "ordType", "sz", "tgtCcy", "clOrdId")
    } == {
        "instId": "BTC-USDT",
        "tdMode": "cash",
        "side": "buy",
        "ordType": "market",
        "sz": "0.01",
        "tgtCcy": "base_ccy",
        "clOrdId": "mine1",
    }
    # no client id given: ccxt makes brokerId + 16 hex, and tags the order (~3383)
    assert auto["clOrdId"].startswith(BROKER) and auto["tag"] == BROKER
    assert ok.fake.balances["BTC"] == Decimal("0.01998")


async def test_the_single_order_endpoint_answers_the_same(ok: Any) -> None:
    ok.client.options["createOrder"] = "privatePostTradeOrder"
    placed = await ok.client.create_order(SYM, "market", "buy", 0.01)
    assert [p for m, p, _ in ok.fake.requests if m == "POST"] == ["/api/v5/trade/order"]
    assert (placed["status"], placed["filled"]) == (None, None)


async def test_a_market_buy_is_sized_in_quote_unless_told_otherwise(ok: Any) -> None:
    c = ok.client
    # OKX docs: tgtCcy "Default is quote_ccy for buy, base_ccy for sell" (market orders).
    raw = await c.privatePostTradeOrder(
        {"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "market", "sz": "3"}
    )
    order = await c.fetch_order(raw["data"][0]["ordId"], SYM)
    assert (order["info"]["tgtCcy"], order["filled"], order["cost"]) == ("quote_ccy", 0.03, 3.0)
    # ccxt's create_market_buy_order_with_cost sends tgtCcy=quote_ccy (~3058)
    placed = await c.create_market_buy_order_with_cost(SYM, 5)
    assert ok.sent("create")[-1][0]["tgtCcy"] == "quote_ccy"
    order = await c.fetch_order(placed["id"], SYM)
    assert (order["filled"], order["cost"], order["average"]) == (0.05, 5.0, 100.0)
    # a sell without tgtCcy is in base
    raw = await c.privatePostTradeOrder(
        {"instId": "BTC-USDT", "tdMode": "cash", "side": "sell", "ordType": "market", "sz": "0.02"}
    )
    assert (await c.fetch_order(raw["data"][0]["ordId"], SYM))["filled"] == 0.02


async def test_keys_passphrase_and_clock(ok: Any) -> None:
    fake, creds = ok.fake, ok.fake.credentials()
    cases = [
        ({**creds, "password": "wrong"}, "50105"),
        ({**creds, "apiKey": "nope"}, "50111"),
        ({**creds, "secret": "nope"}, "50113"),
    ]
    for bad, code in cases:
        client = venues.new_client("okx", fake, bad)
        client.markets, client.markets_by_id = ok.client.markets, ok.client.markets_by_id
        try:
            with pytest.raises(ccxt.AuthenticationError, match=code):  # okx.py ~805-817
                await client.fetch_balance()
        finally:
            await client.close()
    fake.clock_offset_ms = 31_000  # OK-ACCESS-TIMESTAMP more than 30 s away
    with pytest.raises(ccxt.InvalidNonce, match="50102"):
        await ok.client.fetch_balance()


async def test_a_demo_key_needs_sandbox_mode(ok: Any) -> None:
    ok.fake.simulated = True
    with pytest.raises(ccxt.AuthenticationError, match="50101"):
        await ok.client.fetch_balance()
    demo = venues.new_client("okx", ok.fake, sandbox=True)  # adds x-simulated-trading: 1
    try:
        await demo.load_markets()
        assert "USDT" in (await demo.fetch_balance())["total"]
    finally:
        await demo.close()


@pytest.mark.parametrize("coid", ["x" * 33, "bad-id"])
async def test_an_illegal_client_order_id_is_refused(coid: str, ok: Any) -> None:
    # clOrdId: up to 32 alphanumerics (docs); sCode 51000 -> BadRequest (okx.py ~821)
    with pytest.raises(ccxt.BadRequest, match="51000"):
        await ok.client.create_order(SYM, "market", "buy", 0.01, None, {"clientOrderId": coid})
    assert ok.fake.orders == {}


async def test_the_balance_lists_only_currencies_held(ok: Any) -> None:
    c = ok.client
    assert set((await c.fetch_balance())["total"]) == {"USDT"}  # no BTC row yet
    await c.create_order(SYM, "market", "buy", 0.01)
    await c.create_order(SYM, "limit", "sell", 0.004, 150)
    bal = await c.fetch_balance()
    # availBal -> free, frozenBal -> used, eq -> total (okx.py parse_trading_balance ~2818)
    assert (bal["BTC"]["total"], bal["BTC"]["free"], bal["BTC"]["used"]) == (
        0.00999,
        0.00599,
        0.004,
    )


async def test_trades_from_fills_history_and_fills(ok: Any) -> None:
    c = ok.client
    placed = await c.create_order(SYM, "market", "buy", 0.01)
    trades = await c.fetch_my_trades(SYM)
    sent = [e["params"] for e in ok.fake.log if e["path"] == "/api/v5/trade/fills-history"]
    assert sent == [{"instId": "BTC-USDT", "instType": "SPOT"}]  # okx.py fetch_my_trades ~4934
    (t,) = trades
    assert (t["order"], t["side"], t["amount"], t["price"], t["takerOrMaker"]) == (
        placed["id"],
        "buy",
        0.01,
        100.0,
        "taker",
    )
    raw = (await c.privateGetTradeFills({"instType": "SPOT"}))["data"][0]
    assert (raw["tradeId"], raw["fee"], raw["feeCcy"]) == (t["id"], "-0.00001", "BTC")
    assert raw["billId"] and raw["clOrdId"] == placed["clientOrderId"]


async def test_mmp_canceled_reads_canceled(ok: Any) -> None:
    rest = await ok.client.create_order(SYM, "limit", "buy", 0.01, 90)
    ok.fake.force_state(ok.fake.orders[rest["id"]], "mmp_canceled")
    assert (await ok.client.fetch_order(rest["id"], SYM))["status"] == "canceled"  # ~3973
    # fetch_canceled_orders asks orders-history with state=canceled (okx.py ~4622), a state
    # OKX keeps apart from mmp_canceled: the order is not listed there.
    assert await ok.client.fetch_canceled_orders(SYM) == []


async def test_a_price_off_the_tick_is_refused(ok: Any) -> None:
    ok.fake.tick_sz = Decimal("1")  # after ccxt cached tickSz 0.1
    with pytest.raises(ccxt.BadRequest, match="51000"):
        await ok.client.create_order(SYM, "limit", "buy", 0.01, 90.5)


async def test_old_candles_come_from_history_candles(ok: Any) -> None:
    since = venues.T0 - 100 * 60_000
    rows = await ok.client.fetch_ohlcv(SYM, "1m", since=since, limit=5)
    # since older than 1439 bars before ccxt's clock -> history-candles (okx.py ~2700)
    assert ok.fake.log[-1]["path"] == "/api/v5/market/history-candles"
    assert [r[0] for r in rows] == [since + i * 60_000 for i in range(5)]
