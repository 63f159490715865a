"""Schema v5: what the kill switches remember (risk_state) and the bots' deposits and
withdrawals (capital_flows). An upgrade seeds the switches from the stored equity points, so
upgrading oxbot never clears a tripped switch either."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

from oxbot.engine.models import BotStatus, CapitalFlow, EquityPoint, RiskState
from oxbot.storage import migrations
from oxbot.storage.store import Store

D = Decimal
DAY = 86_400_000


async def test_an_upgrade_seeds_the_switches_from_equity_points(
    db_path: Path, make, monkeypatch
) -> None:
    with monkeypatch.context() as m:  # a database as version 4 left it
        m.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:4])
        async with await Store.open(db_path) as s:
            await s.save_bot(make.config("alpha"), BotStatus.RUNNING)
            await s.save_bot(make.config("idle"), BotStatus.STOPPED)
            points = [
                (DAY - 120_000, "10000"),
                (DAY - 60_000, "10400.5"),
                (DAY + 60_000, "9800"),
                (DAY + 120_000, "9700"),
            ]
            await s.record_cycle(
                "alpha", equity=[EquityPoint("alpha", ts, D(eq), D(eq)) for ts, eq in points]
            )
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("SELECT version FROM schema_version").fetchone()[0] == 4
    async with await Store.open(db_path) as s:
        assert await s.load_risk_state("alpha") == RiskState(D("10400.5"), 1, D("9800"))
        assert await s.load_risk_state("idle") is None  # no sample yet: nothing to remember


async def test_risk_state_and_flows_round_trip_and_purge(db_path: Path, make) -> None:
    async with await Store.open(db_path) as s:
        cfg = make.config("alpha")
        await s.save_bot(cfg, BotStatus.RUNNING)
        state = RiskState(D("10500.123456789"), 19_700, D("10100"))
        await s.save_risk_state("alpha", state, [EquityPoint("alpha", 5, D("1"), D("1"))])
        assert await s.load_risk_state("alpha") == state
        assert await s.equity_series("alpha") == [(5, D("1"))]
        flow = CapitalFlow("alpha", 6, D("-2500"), D("7500"), D("10020.5"))
        scaled = state.after_flow(flow.equity_before, flow.amount)
        await s.save_bot(
            cfg.model_copy(update={"capital": D("7500")}), BotStatus.RUNNING, flow=flow, risk=scaled
        )
        assert await s.load_flows("alpha") == [flow]
        assert await s.load_risk_state("alpha") == scaled
        # today's opening equity counts the deposits and withdrawals made after it
        assert await s.day_open_equity("alpha") == (0, D("1") - 2500)
        assert await s.delete_bot("alpha", purge_history=True)
        with sqlite3.connect(db_path) as raw:
            assert raw.execute("SELECT COUNT(*) FROM risk_state").fetchone() == (0,)
            assert raw.execute("SELECT COUNT(*) FROM capital_flows").fetchone() == (0,)


def test_flows_scale_the_switch_references_not_the_percentages() -> None:
    state = RiskState(D("12000"), 3, D("11000"))
    after = state.after_flow(D("9000"), D("-4500"))  # half the wallet withdrawn
    assert after == RiskState(D("6000"), 3, D("5500"))
    # drawdown before: 1 - 9000/12000 = 25 %; after: 1 - 4500/6000 = 25 %
    assert 1 - D("9000") / state.peak_equity == 1 - D("4500") / after.peak_equity  # type: ignore[operator]
