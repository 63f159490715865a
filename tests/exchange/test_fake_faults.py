"""Every scripted fault, through the REAL ccxt clients, on order creation, order lookup and
cancel: the exact ccxt exception class it ends in, and whether the exchange applied the request
anyway. Where a class comes from: ccxt async_support/base/exchange.py fetch() ~200-290 (aiohttp
timeouts -> RequestTimeout, connection errors -> ExchangeNotAvailable, then the exchange's
handle_errors, then httpExceptions: 500/502/503 -> ExchangeNotAvailable, 504 -> RequestTimeout,
base/exchange.py ~3063); binance.py handle_errors ~12598 (418/429 -> DDoSProtection before any
code is read); okx.py handle_errors ~8988 (code 50011 -> RateLimitExceeded).

A 200 whose body is not the exchange's JSON raises NOTHING in ccxt: parse_json returns None
(base/exchange.py ~688), the text is handed to parse_order, and the caller gets an order with
id None and status None. aiohttp (3.14.5, client.py ~739) silently resends a GET or DELETE once
when the connection drops: a dropped lookup succeeds, and a Binance cancel that was applied and
then dropped comes back as OrderNotFound."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import ccxt
import pytest
from module_loading import load_by_path

venues = load_by_path("_oxbot_exchange_tests_venues", Path(__file__).with_name("venues.py"))
SYM = venues.SYMBOL
NONE = None  # ccxt returns an order with id None and status None: no exception at all

NA = "n/a"  # OKX has no 418 answer
# fault -> (binance class, okx class)
CLASSES: dict[str, tuple[Any, Any]] = {
    "429": (ccxt.DDoSProtection, ccxt.RateLimitExceeded),
    "418": (ccxt.DDoSProtection, NA),
    "500": (ccxt.ExchangeNotAvailable, ccxt.ExchangeNotAvailable),
    "502": (ccxt.ExchangeNotAvailable, ccxt.ExchangeNotAvailable),
    "503": (ccxt.ExchangeNotAvailable, ccxt.ExchangeNotAvailable),
    "504": (ccxt.RequestTimeout, ccxt.RequestTimeout),
    "stall": (ccxt.RequestTimeout, ccxt.RequestTimeout),
    "drop": (ccxt.ExchangeNotAvailable, ccxt.ExchangeNotAvailable),
    "malformed": (NONE, NONE),
    "empty": (NONE, NONE),
    "empty_json": (NONE, ccxt.ExchangeError),  # okx: no "code" "0" -> ExchangeError(body)
    "html": (ccxt.ExchangeNotAvailable, ccxt.ExchangeNotAvailable),
    "late": (ccxt.RequestTimeout, ccxt.RequestTimeout),
    "late_arrival": (ccxt.RequestTimeout, ccxt.RequestTimeout),
}
AFTER = ["500", "502", "503", "504", "stall", "drop", "malformed", "empty", "empty_json", "html"]
CREATE_CASES = [
    (k, f)
    for k in ("binance", "okx")
    for f in list(CLASSES) + [a + "_after" for a in AFTER]
    if CLASSES[f.removesuffix("_after")][k == "okx"] is not NA
]


@pytest.fixture
async def make() -> AsyncIterator[Any]:
    opened: list[Any] = []

    async def open_(kind: str, **kw: Any) -> Any:
        v = await venues.open_venue(kind, timeout_ms=250, stall_s=0.5, late_s=0.3, **kw)
        opened.append(v)
        return v

    yield open_
    for v in opened:
        await venues.close_venue(v)


def expected(kind: str, fault: str) -> Any:
    return CLASSES[fault.removesuffix("_after")][kind == "okx"]


async def outcome(call: Any) -> Any:
    try:
        return await call
    except ccxt.BaseError as e:
        return e


@pytest.mark.parametrize("kind,fault", CREATE_CASES)
async def test_fault_on_create(kind: str, fault: str, make: Any) -> None:
    v = await make(kind)
    v.fake.script(fault, path=v.path("create"), method="POST")
    got = await outcome(
        v.client.create_order(SYM, "market", "buy", 0.01, None, {"clientOrderId": "faulty1"})
    )
    want = expected(kind, fault)
    if want is NONE:
        assert isinstance(got, dict) and (got["id"], got["status"]) == (None, None)
    else:
        assert type(got) is want, got
    await v.fake.settle()
    # Applied: every *_after, and late / late_arrival (arrived within recvWindow / 30 s).
    applied = fault.endswith("_after") or fault.startswith("late")
    assert len(v.fake.orders) == (1 if applied else 0)
    if applied:  # the order the client never heard of is there, and filled
        found = await v.client.fetch_order(None, SYM, {"clientOrderId": "faulty1"})
        assert found["status"] == "closed"


LOOKUP = [
    "429",
    "500",
    "503",
    "504",
    "stall",
    "drop",
    "drop_after",
    "malformed",
    "empty",
    "empty_json",
    "html",
]


@pytest.mark.parametrize("kind", ["binance", "okx"])
async def test_faults_on_order_lookup(kind: str, make: Any) -> None:
    v = await make(kind)
    placed = await v.client.create_order(SYM, "market", "buy", 0.01)
    for fault in LOOKUP:
        v.fake.script(fault, path=v.path("order"), method="GET")
        n = len(v.fake.requests)
        got = await outcome(v.client.fetch_order(placed["id"], SYM))
        if fault.startswith("drop"):
            # aiohttp resends the GET (client.py ~739): the caller sees the answer.
            assert got["status"] == "closed" and len(v.fake.requests) == n + 2
        elif expected(kind, fault) is NONE:
            # No exception, an order with nothing in it (binance: filled 0.0, okx: None).
            assert (got["id"], got["status"]) == (None, None), fault
        else:
            assert type(got) is expected(kind, fault), (fault, got)


async def test_a_binance_cancel_applied_then_dropped_reads_unknown_order(make: Any) -> None:
    v = await make("binance")
    rest = await v.client.create_order(SYM, "limit", "buy", 0.01, 90)
    v.fake.script("drop_after", path=v.path("cancel"), method="DELETE")
    # The cancel worked; aiohttp resent the DELETE (idempotent) and Binance answered -2011.
    with pytest.raises(ccxt.OrderNotFound):
        await v.client.cancel_order(rest["id"], SYM)
    assert v.fake.orders[int(rest["id"])].status == "CANCELED"
    assert [m for m, p, _ in v.fake.requests if p == v.path("cancel") and m != "POST"] == [
        "DELETE",
        "DELETE",
    ]


async def test_an_okx_cancel_applied_then_dropped_is_a_network_error(make: Any) -> None:
    v = await make("okx")
    rest = await v.client.create_order(SYM, "limit", "buy", 0.01, 90)
    v.fake.script("drop_after", path=v.path("cancel"), method="POST")
    with pytest.raises(ccxt.ExchangeNotAvailable):  # a POST is not resent
        await v.client.cancel_order(rest["id"], SYM)
    assert v.fake.orders[rest["id"]].state == "canceled"


@pytest.mark.parametrize("kind", ["binance", "okx"])
async def test_a_late_order_appears_while_the_client_looks_it_up(kind: str, make: Any) -> None:
    v = await make(kind)
    v.fake.script("late", path=v.path("create"), method="POST")
    with pytest.raises(ccxt.RequestTimeout):
        await v.client.create_order(SYM, "market", "buy", 0.01, None, {"clientOrderId": "late1"})
    # "Not found" is no proof: the exchange still holds the request.
    with pytest.raises(ccxt.OrderNotFound):
        await v.client.fetch_order(None, SYM, {"clientOrderId": "late1"})
    assert v.fake.pending_late() == 1
    await v.fake.settle()
    assert (await v.client.fetch_order(None, SYM, {"clientOrderId": "late1"}))["status"] == "closed"


@pytest.mark.parametrize("kind", ["binance", "okx"])
async def test_a_request_reaching_the_exchange_too_late_is_refused(kind: str, make: Any) -> None:
    """Binance checks recvWindow when the request reaches it (docs, timing security: -1021);
    OKX refuses a timestamp more than 30 s old (50102). ``late_arrival`` holds the request
    before the exchange; ``late`` holds it inside (already checked: applied)."""
    v = await make(kind)
    if kind == "binance":
        v.client.options["recvWindow"] = 100  # ccxt sends it with every signed call
    else:
        v.fake.timestamp_window_s = 0.2
    v.fake.script("late_arrival", path=v.path("create"), method="POST")
    with pytest.raises(ccxt.RequestTimeout):
        await v.client.create_order(SYM, "market", "buy", 0.01)
    await v.fake.settle()
    assert v.fake.orders == {}
    assert v.fake.log[-1]["status"] == "stalled"
    v.fake.script("late", path=v.path("create"), method="POST")
    with pytest.raises(ccxt.RequestTimeout):
        await v.client.create_order(SYM, "market", "buy", 0.01)
    await v.fake.settle()
    assert len(v.fake.orders) == 1


async def test_rate_limit_answers_carry_each_exchange_s_own_body(make: Any) -> None:
    b = await make("binance")
    b.fake.script("429", path=b.path("ticker"))
    with pytest.raises(ccxt.DDoSProtection, match="-1003"):
        await b.client.fetch_ticker(SYM)
    # Binance docs: "A Retry-After header is sent with a 418 or 429 responses".
    assert b.client.last_response_headers["Retry-After"] == "3"
    o = await make("okx")
    o.fake.script("429", path=o.path("ticker"))
    with pytest.raises(ccxt.RateLimitExceeded, match="50011"):
        await o.client.fetch_ticker(SYM)
    assert "Retry-After" not in o.client.last_response_headers  # OKX documents none
    with pytest.raises(ValueError, match="no 418"):
        o.fake.script("418")
    with pytest.raises(ValueError, match="unknown fault"):
        o.fake.script("late_after")


async def test_a_fault_the_exchange_has_no_equivalent_of_fails_the_test(make: Any) -> None:
    v = await make("okx")
    v.fake.fault_fn = lambda m, p: "418"
    with pytest.raises(ccxt.ExchangeNotAvailable):  # aiohttp answered 500 for the fake
        await v.client.fetch_ticker(SYM)
    v.fake.fault_fn = None
    assert len(v.fake.errors) == 1
    with pytest.raises(AssertionError, match="no 418"):
        await v.fake.stop()
    v.fake.errors.clear()  # stopped already; the fixture's second stop() is a no-op
