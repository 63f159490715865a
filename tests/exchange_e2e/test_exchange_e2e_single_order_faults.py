"""What held up: single-order faults on both dialects, through the real engine, real ccxt and
the fakes. After each, the ledger holds exactly what the account holds, the exchange has one
order per intent, and every fill is booked once."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scripted_live import SCRIPTS, live_bot, load_fake, start_live, wait_for  # noqa: E402

pytestmark = pytest.mark.usefixtures("own_home")  # settings, data and logs of its own

fb = load_fake("fake_binance")
fo = load_fake("fake_okx")

CASES = [
    ("binance", "502_after", {}),
    ("binance", "drop_after", {}),
    ("binance", "empty_after", {}),
    ("binance", None, {"fills_lag_s": 1.5}),
    ("binance", None, {"depth": [(Decimal(0), Decimal("5"))]}),  # partly filled, EXPIRED
    ("binance", None, {"order_lag_s": 2.0, "match_lag_s": 0.5}),
    ("okx", "empty_json_after", {}),
    ("okx", "504_after", {"fills_lag_s": 1.0}),
    ("okx", None, {"depth": [(Decimal(0), Decimal("5"))]}),  # partly filled, canceled
    ("okx", None, {"match_lag_s": 1.0, "order_lag_s": 1.0}),
]


@pytest.mark.parametrize(
    ("dialect", "fault", "kw"), CASES, ids=[f"{d}-{f}-{'-'.join(k)}" for d, f, k in CASES]
)
async def test_single_order_faults_hold(
    tmp_path: Path, dialect: str, fault: str | None, kw: dict
) -> None:
    fake = (fb.FakeBinance if dialect == "binance" else fo.FakeOkx)(**kw)
    await fake.start()
    name = f"h{abs(hash((dialect, fault, tuple(kw)))) % 10**6}"
    SCRIPTS[name] = [{"BTC/USDT": "buy"}, {}, {}, {"BTC/USDT": "close"}, {}, {}]
    live = await start_live(
        tmp_path,
        fake,
        [live_bot(name, exchange=dialect)],
        exchange=dialect,
        settings={"timeout_ms": 1500},
    )
    try:
        r = live.runner(name)
        path = "/api/v3/order" if dialect == "binance" else None
        t = 1_700_000_100_000
        for i in range(6):
            if fault and i in (0, 3):
                fake.script(fault, method="POST", path=path)
            await live.bar(name, t + i * 60_000)
            await wait_for(lambda: not r.broker.blocked(), 20)
        await fake.settle()
        await wait_for(lambda: not r.broker.blocked(), 20)
        views = fake.orders_view()
        base = fake.balances.get("BTC", Decimal(0))
        pos = r.portfolio.position("BTC/USDT")
        print(
            dialect,
            fault,
            kw,
            "orders",
            [(v["side"], v["status"], v["filled"]) for v in views],
            "account",
            base,
            "ledger",
            pos.qty if pos else 0,
        )
        print("\n".join(live.notices()))
        assert len(views) == 2
        assert (pos.qty if pos else Decimal(0)) == base
        assert not fake.audit()
        fills = await live.engine.store.load_fills(name)
        assert len(fills) == len(fake.trades_view())
    finally:
        await live.stop()
        await fake.stop()
