"""Retry matrix and circuit breaker, through real ccxt against the fake exchange."""

from __future__ import annotations

import random
from typing import Any

import pytest

from oxbot.engine import errors as ox
from oxbot.engine.exchange.retry import BreakerState, CircuitBreaker, RetryPolicy

TICKER = "/api/v3/ticker/24hr"


def calls(fake: Any, path: str) -> int:
    return sum(1 for _, p, _ in fake.requests if p == path)


@pytest.mark.parametrize("fault", ["429", "418", "500", "503", "stall", "drop", "malformed"])
async def test_temporary_error_makes_exactly_five_calls_with_backoff(
    fault: str, fake: Any, clients: Any, sleeps: list[float]
) -> None:
    client = clients.public("binance")
    client.timeout = 150
    fake.stall_s = 0.4
    fake.script(fault, path=TICKER, times=10)
    attempts = 0

    async def fetch() -> Any:
        nonlocal attempts
        attempts += 1
        return await client.fetch_ticker("BTC/USDT")

    with pytest.raises(ox.TemporaryError) as info:
        await clients.read(client, fetch, "fetch ticker")
    assert attempts == 5
    # aiohttp itself re-sends an idempotent GET once when a pooled connection was dropped.
    assert calls(fake, TICKER) == 5 if fault != "drop" else 5 <= calls(fake, TICKER) <= 10
    assert len(sleeps) == 4
    nominal = RetryPolicy().schedule()
    for got, want in zip(sleeps, nominal, strict=True):
        floor = fake.retry_after_s if fault in ("429", "418") else want * 0.8
        assert floor <= got <= max(want * 1.2, floor)
    if fault in ("429", "418"):
        assert isinstance(info.value, ox.RateLimited) and info.value.retry_after == 3
    assert "fetch ticker on binance failed" in str(info.value)


async def test_temporary_then_success_returns_the_value(fake: Any, clients: Any) -> None:
    client = clients.public("binance")
    fake.script("503", path=TICKER, times=2)
    t = await clients.read(client, lambda: client.fetch_ticker("BTC/USDT"), "fetch ticker")
    assert t["last"] == 100.0 and calls(fake, TICKER) == 3


async def test_permanent_errors_make_one_call(
    fake: Any, clients: Any, creds: Any, sleeps: list[float]
) -> None:
    client = clients.public("binance")
    await clients.markets("binance")
    client.markets["ETH/USDT"] = dict(client.markets["BTC/USDT"], id="ETHUSDT", symbol="ETH/USDT")
    with pytest.raises(ox.BadSymbol):
        await clients.read(client, lambda: client.fetch_ticker("ETH/USDT"), "fetch ticker")
    assert calls(fake, TICKER) == 1

    bad = await clients.private("binance", lambda: type(creds)(creds.api_key, "wrong-secret"))
    with pytest.raises(ox.AuthError) as info:
        await clients.read(bad, bad.fetch_balance, "fetch balance")
    assert calls(fake, "/api/v3/account") == 1 and sleeps == []
    assert "wrong-secret" not in str(info.value)


def test_breaker_opens_refuses_probes_and_closes() -> None:
    now = [0.0]
    changes: list[tuple[str, str]] = []
    b = CircuitBreaker(
        "binance",
        threshold=3,
        cooldown_s=10,
        monotonic=lambda: now[0],
        on_change=lambda n, old, new, why: changes.append((old, new)),
    )
    for _ in range(3):
        b.before_call()
        b.record_failure("timeout")
    assert b.state is BreakerState.OPEN
    with pytest.raises(ox.CircuitOpen, match="binance is unreachable"):
        b.before_call()
    now[0] = 11
    b.before_call()  # the probe
    with pytest.raises(ox.CircuitOpen):
        b.before_call()  # only one probe at a time
    b.record_failure("timeout")
    assert b.state is BreakerState.OPEN
    now[0] = 22
    b.before_call()
    b.record_success()
    assert b.state is BreakerState.CLOSED
    assert changes == [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
    ]


async def test_thirty_percent_failures_over_1000_cycles(fake: Any, clients: Any) -> None:
    """No crash; the breaker opens and recovers; every outcome is a value or an oxbot error."""
    from oxbot.engine.exchange.clients import ExchangeClients

    rng = random.Random(7)
    fake.fault_fn = lambda m, p: (
        rng.choice(["500", "503", "429", "drop"]) if p == TICKER and rng.random() < 0.3 else None
    )
    now = [0.0]
    changes: list[str] = []
    reg = ExchangeClients(
        configure=clients._configure,
        config=clients._config,
        sleep=clients.sleep,
        breaker_threshold=3,
        breaker_cooldown_s=5,
        policy=RetryPolicy(retries=1),
        on_breaker_change=lambda n, o, new, why: changes.append(new),
    )
    reg.breaker("binance")._now = lambda: now[0]
    client = reg.public("binance")
    ok = refused = failed = 0
    try:
        for _ in range(1000):
            now[0] += 1
            try:
                t = await reg.read(client, lambda: client.fetch_ticker("BTC/USDT"), "ticker")
                assert t["last"] == 100.0
                ok += 1
            except ox.CircuitOpen:
                refused += 1
            except ox.TemporaryError:
                failed += 1
    finally:
        await reg.close_all()
    assert ok > 800 and failed > 0 and refused > 0
    assert "open" in changes and "closed" in changes and "half_open" in changes
    assert reg.breaker("binance").state is not BreakerState.OPEN or changes[-1] == "open"
