"""The fakes under a fault campaign like the coordinator's (300 order creations through the real
ccxt client, 40 % of them faulted at random): every fault does exactly what fake_base.py says
(applied or not), the fakes' own books stay exact (``audit()``), and it is fast enough for CI."""

from __future__ import annotations

import random
import time
from decimal import Decimal
from pathlib import Path

import ccxt
import pytest
from module_loading import load_by_path

venues = load_by_path("_oxbot_exchange_tests_venues", Path(__file__).with_name("venues.py"))
FAULTS = [
    "429",
    "500",
    "502",
    "503",
    "504",
    "stall",
    "drop",
    "malformed",
    "empty",
    "empty_json",
    "html",
    "late",
    "late_arrival",
    "500_after",
    "503_after",
    "stall_after",
    "drop_after",
    "malformed_after",
    "empty_after",
    "empty_json_after",
    "html_after",
]


def applies(fault: str | None) -> bool:
    return fault is None or fault.endswith("_after") or fault.startswith("late")


@pytest.mark.parametrize("kind", ["binance", "okx"])
async def test_300_creations_under_random_faults(kind: str) -> None:
    faults = FAULTS + (["418"] if kind == "binance" else [])
    v = await venues.open_venue(
        kind,
        timeout_ms=60,
        stall_s=0.08,
        late_s=0.1,
        balances={"USDT": Decimal("1000000"), "BTC": Decimal("10")},
    )
    rng = random.Random(11)
    v.fake.fault_fn = lambda m, p: (
        rng.choice(faults) if (m, p) == ("POST", v.path("create")) and rng.random() < 0.4 else None
    )
    t0 = time.monotonic()
    try:
        for i in range(300):
            try:
                await v.client.create_order(
                    venues.SYMBOL,
                    "market",
                    ("buy", "sell")[i % 2],
                    0.01,
                    None,
                    {"clientOrderId": f"c{i}"},
                )
            except ccxt.BaseError:
                pass
        await v.fake.settle()
        elapsed = time.monotonic() - t0
        sends = [e for e in v.fake.log if e["path"] == v.path("create")]
        on_exchange = {o["client_order_id"] for o in v.fake.orders_view()}
    finally:
        await venues.close_venue(v)
    assert len(sends) == 300 and {e["fault"] for e in sends} == set(faults) | {None}
    for e in sends:
        p = e["params"]
        coid = p["newClientOrderId"] if kind == "binance" else p[0]["clOrdId"]
        assert (coid in on_exchange) is applies(e["fault"]), e
    assert len(on_exchange) == len(v.fake.orders) == sum(applies(e["fault"]) for e in sends)
    assert v.fake.audit() == {}
    assert all(o["status"] == "filled" for o in v.fake.orders_view())
    assert elapsed < 60, elapsed  # 2.2 s (binance) and 2.6 s (okx) measured at load 3.5
