"""The LIVE fault campaign, per exchange dialect: >= 300 order creations by real LIVE bots in the
real engine (configured through settings.json and environment keys, as a user does), through
the real ccxt client, against a fake Binance and a fake OKX that answer with random faults —
timeouts before and after the exchange applied the order, resets, 5xx, 429, malformed, empty
and HTML bodies, requests applied late after the client gave up — on order creation, lookups
and trade lists. When the faults stop and the orders settle:

0 duplicate orders, 0 exchange orders unknown to the database (or in another state there),
0 fills missing or counted twice, 0 drift of the coin or of cash, and every order the database
still cannot place on the exchange (sent, never shown) is listed by reconciliation.

What each fault does, and where that behaviour was read, is in tests/exchange/fake_base.py and
the dialect fakes; tests/exchange/test_fake_faults.py proves the fakes do it.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest

from oxbot.engine.messages import AddBot, ReconcileFound
from oxbot.engine.models import BotConfig, Mode

CREATIONS = 300
CREATE_FAULTS = [
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
READ_FAULTS = ["429", "500", "503", "stall", "drop", "malformed", "html", "empty"]
CREATE = {"binance": ("POST", "/api/v3/order"), "okx": ("POST", "/api/v5/trade/batch-orders")}
LOOKUPS = {
    "binance": ("/api/v3/order", "/api/v3/myTrades", "/api/v3/openOrders", "/api/v3/allOrders"),
    "okx": (
        "/api/v5/trade/order",
        "/api/v5/trade/fills",
        "/api/v5/trade/fills-history",
        "/api/v5/trade/orders-pending",
        "/api/v5/trade/orders-history",
    ),
}
BOTS = ("camp1", "camp2", "camp3", "camp4", "camp5", "camp6")
CAPITAL = Decimal("1500")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["binance", "okx"])
async def test_300_creations_under_random_faults(
    kind: str, camp: Any, run_engine: Any, sup: Any, record_property: Any
) -> None:
    fake = camp.clocked(
        kind,
        speed=600,
        stall_s=0.35,
        late_s=0.5,
        balances={"USDT": Decimal("1000000"), "BTC": Decimal("0")},
    )
    fake.retry_after_s = 0
    await fake.start()
    rng = random.Random(f"campaign-{kind}")
    injected: Counter[str] = Counter()
    create, lookups = CREATE[kind], LOOKUPS[kind]
    # Every kind of fault in turn, in a shuffled order each round: all of them are injected.
    rounds: dict[str, list[str]] = {"create": [], "lookup": []}

    def pick(kinds: list[str], where: str) -> str:
        if not rounds[where]:
            rounds[where] = rng.sample(kinds, len(kinds))
        return rounds[where].pop()

    def fault(method: str, path: str) -> str | None:
        if (method, path) == create:
            f = pick(CREATE_FAULTS, "create") if rng.random() < 0.35 else None
        elif path in lookups:
            f = pick(READ_FAULTS, "lookup") if rng.random() < 0.15 else None
        else:
            f = None
        if f:
            injected[f"{'create' if (method, path) == create else 'lookup'} {f}"] += 1
        return f

    def creations() -> int:
        return sum(1 for e in fake.log if (e["method"], e["path"]) == create)

    try:
        run = await run_engine(fake, stale_after_s=30)
        for name in BOTS:
            cfg = BotConfig(
                name=name,
                exchange=kind,
                symbols=("BTC/USDT",),
                timeframe="1m",
                strategy=sup.Flip.name,
                capital=CAPITAL,
                mode=Mode.LIVE,
            )
            assert (await run.do(AddBot(config=cfg, start=True))).ok
        bots = [run.engine.runners[n] for n in BOTS]
        await run.wait(lambda: all(b.cycles >= 2 for b in bots), 60)
        fake.fault_fn = fault
        t0 = time.monotonic()
        await run.wait(lambda: creations() >= CREATIONS, 300)
        faulty_s = time.monotonic() - t0
        fake.fault_fn = None
        await fake.settle()  # requests held for late application are applied now
        # The orders settle: each is resolved by a lookup, or listed once the exchange's
        # processing window is over (it stops blocking its symbol then).
        await run.wait(lambda: all(not b.broker.watch.blocking() for b in bots), 60)
        settle_s = time.monotonic() - t0 - faulty_s
        await run.stop()
    finally:
        await fake.stop()

    assert run.task is not None and run.task.exception() is None  # no crash
    listed = {
        i.id.split(":", 1)[1]
        for e in run.events
        if isinstance(e, ReconcileFound)
        for i in e.items
        if i.kind == "unknown"
    }
    report = await camp.ledger_vs_exchange(
        run.engine.store, fake, dict.fromkeys(BOTS, CAPITAL), listed
    )
    sends = creations()
    applied_late = sum(
        1
        for e in fake.log
        if (e["method"], e["path"]) == create
        and e.get("fault") in ("late", "late_arrival")
        or False
    )
    lines = [
        f"{kind} campaign: {sends} creations in {faulty_s:.1f}s (+{settle_s:.1f}s to "
        f"settle), {sum(injected.values())} faults injected "
        f"({sum(v for k, v in injected.items() if k.startswith('create'))} on creation), "
        f"{report['exchange_orders']} exchange orders, {report['fills']} fills, "
        f"{applied_late} late requests, {report['unresolved_in_db']} orders unresolved in "
        f"the database, {report['listed_unknown']} listed for reconciliation",
        "  duplicates {d}, unknown to the database {u}, wrong state {w}, unlisted unknown "
        "{n}, missing fills {m}, extra fills {x}, position drift {p}, cash drift {c}".format(
            d=len(report["duplicates"]),
            u=len(report["unknown_to_db"]),
            w=len(report["wrong_state"]),
            n=len(report["unlisted_unknown"]),
            m=len(report["missing_fills"]),
            x=len(report["extra_fills"]),
            p=report["position_drift"],
            c=report["cash_drift"],
        ),
    ]
    lines += [
        f"  {key}: {value if not isinstance(value, list) else value[:10]}"
        for key, value in camp.disagreements(report).items()
    ]
    record_property("figures", "\n".join(lines))
    print("\n" + "\n".join(lines))
    assert camp.disagreements(report) == {}, report
    assert sends >= CREATIONS
    assert {k.split()[1] for k in injected if k.startswith("create")} == set(CREATE_FAULTS)
    assert report["exchange_orders"] > 150 and report["fills"] > 150
