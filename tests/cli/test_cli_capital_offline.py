"""`bots list` / `status` without an engine, after a capital edit: the stored capital already
includes the deposit (it is what the user put in, net), so the offline rebuild must not add the
flow again. Found by an adversarial tester: a bot that lost 139.75 showed P&L -10,139.75.

The ledger is written through the real Store the way the engine writes it on an edit
(engine/engine.py UpdateBot: the new config, the flow and the rescaled switches in one write),
with an equity sample marked at the bot's last prices."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

from oxbot.engine.models import BotConfig, BotStatus, CapitalFlow, EquityPoint
from oxbot.storage.store import Store


async def _edited(db: Path) -> None:
    store = await Store.open(db)
    try:
        cfg = BotConfig(name="p2", strategy="sma_cross", timeframe="1m", capital=Decimal(10000))
        await store.save_bot(cfg, BotStatus.RUNNING)
        await store.record_cycle(
            "p2",
            equity=[EquityPoint("p2", 1_700_000_000_000, Decimal("9836.87"), Decimal("9836.87"))],
        )
        flow = CapitalFlow(
            "p2", 1_700_000_060_000, Decimal(10000), Decimal(20000), Decimal("9836.87")
        )
        await store.save_bot(
            cfg.model_copy(update={"capital": Decimal(20000)}), BotStatus.STOPPED, flow=flow
        )
        await store.record_cycle(
            "p2",
            equity=[EquityPoint("p2", 1_700_000_120_000, Decimal("19860.25"), Decimal("19860.25"))],
        )
    finally:
        await store.close()


def test_offline_pnl_after_a_deposit_counts_it_once(oxbot, home: Path) -> None:
    db = home / "edited.db"
    asyncio.run(_edited(db))
    code, out, err = oxbot("bots", "list", "--json", "--db", str(db))
    assert code == 0, err
    rows = json.loads(out)
    row = rows[0] if isinstance(rows, list) else rows["bots"][0]
    assert Decimal(row["equity"]) == Decimal("19860.25")
    # equity - net deposits (10,000 start + 10,000 deposit), not - 30,000
    assert Decimal(row["pnl"]) == Decimal("-139.75")
