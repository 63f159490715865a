"""A database crafted with the real Store API for the audit (app/audit.py): one bot's ledger per
``Craft``, timestamps relative to the wall clock (plus ``ahead_h``): the newest equity sample is
at the crafting time. Used by tests/cli/test_cli_audit.py and
tests/tui/test_tui_audit.py.

The cash of a fill is what engine/portfolio.py ``_apply`` books: a buy takes qty x price + fee, a
sell gives qty x price - fee (quote fees); the stored cash is an equity sample's
(engine/bot.py ``_sample_equity``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path

from oxbot.engine.models import (
    BotConfig,
    BotStatus,
    DecisionRecord,
    EquityPoint,
    Fill,
    Order,
    OrderReason,
    OrderStatus,
    Position,
    RiskLimits,
    Side,
)
from oxbot.storage.reads import now_ms
from oxbot.storage.store import Store

D = Decimal
H = 3_600_000
SYM = "BTC/USDT"


@dataclass
class Craft:
    """One bot's ledger (its ids prefixed with its name: ids are unique in the database): by
    default 12 hourly cycles, one trip closed by its stop-loss after 2 h, the stored cash equal
    to the fills' cash."""

    name: str = "clean"
    max_hold_s: int | None = 4 * 3600
    status: BotStatus = BotStatus.RUNNING
    trade: bool = True
    exit_reason: OrderReason = OrderReason.STOP_LOSS
    hold_h: int = 2
    cycles: int = 12
    cash_error: Decimal = D(0)
    decision_error: str = ""
    open_for_h: int | None = None  # a position still open, bought this many hours ago
    stored_qty: Decimal | None = None  # that position's stored quantity, when not the fills'
    stored_entry: Decimal | None = None  # its stored average entry, when not the fills'
    ahead_h: int = 0  # every time this many hours after the wall clock (a sim running ahead)
    fills: list[Fill] = field(default_factory=list)

    def config(self) -> BotConfig:
        risk = RiskLimits(max_hold_s=self.max_hold_s)
        return BotConfig(name=self.name, timeframe="1h", risk=risk)


async def _write(path: Path, crafts: list[Craft]) -> None:
    store = await Store.open(path)
    try:
        for c in crafts:
            now = now_ms() + c.ahead_h * H  # the bot's own clock: its newest sample is ``now``
            base = now - 20 * H
            await store.add_bots([c.config()], c.status)
            cash = c.config().capital
            if c.trade:
                buy = Fill(
                    f"{c.name}-b1",
                    f"{c.name}-o1",
                    c.name,
                    SYM,
                    Side.BUY,
                    D(1),
                    D(100),
                    D("0.1"),
                    base + H,
                )
                sell_ts = base + (1 + c.hold_h) * H
                sell = Fill(
                    f"{c.name}-s1",
                    f"{c.name}-o2",
                    c.name,
                    SYM,
                    Side.SELL,
                    D(1),
                    D(97),
                    D("0.097"),
                    sell_ts,
                )
                sell = replace(sell, reason=c.exit_reason)
                for f in (buy, sell):
                    order = Order(
                        f.client_order_id, c.name, SYM, f.side, f.qty, f.reason,
                        OrderStatus.FILLED, f.ts,
                    )  # fmt: skip
                    pos = Position(SYM, D(1), D(100), None, None, buy.ts)
                    await store.record_cycle(
                        c.name,
                        orders=[order],
                        fills=[f],
                        positions={SYM: pos if f.side is Side.BUY else None},
                    )
                cash += -D("100.1") + D("96.903")
            if c.open_for_h is not None:
                ts = now - c.open_for_h * H
                f = Fill(
                    f"{c.name}-b2",
                    f"{c.name}-o3",
                    c.name,
                    SYM,
                    Side.BUY,
                    D(1),
                    D(100),
                    D("0.1"),
                    ts,
                )
                order = Order(
                    f.client_order_id, c.name, SYM, Side.BUY, D(1), f.reason, OrderStatus.FILLED, ts
                )
                qty, entry = c.stored_qty or D(1), c.stored_entry or D(100)
                pos = Position(SYM, qty, entry, None, None, ts)
                await store.record_cycle(c.name, orders=[order], fills=[f], positions={SYM: pos})
                cash -= D("100.1")
            points = [
                EquityPoint(c.name, now - (c.cycles - 1 - i) * H, cash, cash + c.cash_error)
                for i in range(c.cycles)
            ]
            record = DecisionRecord(c.name, base + 2 * H, "rule", "BTC/USDT:hold")
            if c.decision_error:
                record = DecisionRecord(
                    c.name, base + 2 * H, "llm", "", error=c.decision_error
                )  # fmt: skip
            await store.record_cycle(c.name, decision=record, equity=points)
    finally:
        await store.close()


def crafted(home: Path, *crafts: Craft) -> str:
    path = home / "audit.db"
    asyncio.run(_write(path, list(crafts)))
    return str(path)
