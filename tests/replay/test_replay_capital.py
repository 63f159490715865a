"""Replay of a bot whose capital was edited while it traded: the deposit is replayed when it
happened (found by an adversarial tester: before, every decision was re-sized with today's
capital and the deposit was reported as a +98.6 % "return").

The ledger: the conftest's PAPER sma_cross bot run by the live engine over CSV candles at max
speed, its capital raised 10,000 -> 20,000 by an UpdateBot command (the cockpit's edit) after
about half the candles; the engine stores the new config and the deposit (engine/engine.py)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from oxbot.app.replay import run_replay
from oxbot.engine.engine import Engine
from oxbot.engine.market.hub import MarketHub
from oxbot.engine.market.sim import SimConfig
from oxbot.engine.messages import CommandDone, UpdateBot
from oxbot.engine.models import BotConfig, BotStatus
from oxbot.storage.store import Store

from .conftest import LIVE_CANDLES, SYMS, TIGHT, candles

pytestmark = pytest.mark.slow


async def _edited_live(db: Path, config: BotConfig, csv: dict[str, str]) -> None:
    store = await Store.open(db)
    hub = MarketHub(SimConfig(speed=None, max_candles=LIVE_CANDLES, csv=csv))
    await store.save_bot(config, BotStatus.RUNNING)
    engine = Engine(store, hub, snapshot_every_s=None)
    done: list[CommandDone] = []
    engine.bus.listen(lambda ev: done.append(ev) if isinstance(ev, CommandDone) else None)
    run = asyncio.create_task(engine.run())
    await asyncio.wait_for(engine.ready.wait(), 30)
    async with asyncio.timeout(600):
        while not hub._streams or min(s.live_candles for s in hub._streams.values()) < 250:
            await asyncio.sleep(0.001)
        bigger = config.model_copy(update={"capital": Decimal(20000)})
        engine.submit(replace(UpdateBot(name=config.name, config=bigger), request_id="edit"))
        while not any(d.request_id == "edit" for d in done):
            await asyncio.sleep(0.001)
        assert next(d for d in done if d.request_id == "edit").ok
        while not all(s.ended for s in hub._streams.values()):
            await asyncio.sleep(0.01)
    engine.request_stop()
    await run
    await store.close()


def test_a_deposit_is_replayed_when_it_happened(tmp_path: Path) -> None:
    csv = {}
    for seed, sym in enumerate(SYMS, start=3):
        path = tmp_path / f"{sym.replace('/', '-')}.csv"
        candles(900, seed).to_csv(path, index=False)
        csv[sym] = str(path)
    config = BotConfig(
        name="grower",
        symbols=SYMS,
        timeframe="1h",
        strategy="sma_cross",
        params={"fast": 5, "slow": 20},
        risk=TIGHT,
        slippage_bps=Decimal(5),
    )
    db = tmp_path / "live.db"
    asyncio.run(_edited_live(db, config, csv))

    report = run_replay(db, "grower", csv=csv)
    stored, replayed = report.stored, report.replayed
    # the same trades as the live bot made, sized before and after the deposit as it was
    key = [(f.symbol, f.side, f.ts, f.qty, f.price, f.fee) for f in replayed.fills]
    assert key == [(f.symbol, f.side, f.ts, f.qty, f.price, f.fee) for f in stored.fills]
    assert len(stored.fills) >= 10
    assert stored.deposits == replayed.deposits == Decimal(10000)
    # the deposit is not a gain: P&L = final - start - deposits, the same both ways
    assert replayed.pnl == stored.pnl
    assert abs(replayed.return_pct) < 50  # not the +98 % a deposit counted as return gave
    assert any("capital flows" in n for n in report.notes)
