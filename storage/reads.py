"""The read side of the Store: every query the engine and the TUI use to show the ledger.

Reads run on pooled READ-ONLY connections in deferred transactions: in WAL mode they never
block the writer, and a multi-statement read sees one consistent snapshot.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import ColumnElement, Select, Text, false, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from oxbot.engine.errors import StorageError
from oxbot.engine.models import (
    BotConfig,
    BotStatus,
    CapitalFlow,
    DecisionRecord,
    EquityPoint,
    Fill,
    Order,
    OrderStatus,
    Position,
    RiskState,
)

from . import convert
from .schema import (
    bots,
    capital_flows,
    decisions,
    equity_points,
    fills,
    market_marks,
    orders,
    positions,
    risk_state,
)

log = logging.getLogger("oxbot.storage")

DAY_MS = 86_400_000
_OPEN_STATUSES = tuple(s.value for s in OrderStatus if not s.terminal)


def now_ms() -> int:
    """Wall-clock time in integer ms UTC (bot rows' created/updated stamps)."""
    return int(time.time() * 1000)


def live() -> ColumnElement[bool]:
    """The condition of a bot row that is not deleted."""
    return bots.c.deleted == false()


def live_id(name: str) -> Any:
    """The id of the live (not deleted) bot called ``name``, as a scalar subquery."""
    return select(bots.c.id).where(bots.c.name == name, live()).scalar_subquery()


class StoreReads:
    """Queries over the ledger; Store adds the lifecycle and the writes."""

    _engine: AsyncEngine
    _path: Path | str

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[AsyncConnection]:
        async with self._engine.connect() as conn:
            yield conn

    async def _rows(self, statement: Select[Any]) -> list[Any]:
        async with self._reading() as conn:
            return list((await conn.execute(statement)).mappings().all())

    # ------------------------------------------------------------------ bots

    async def load_bots(self) -> list[tuple[BotConfig, BotStatus]]:
        """Every live bot with its last status, in creation order."""
        rows = await self._rows(
            select(bots.c.name, bots.c.config, bots.c.status)
            .where(live())
            .order_by(bots.c.created_ts, bots.c.id)
        )
        out: list[tuple[BotConfig, BotStatus]] = []
        for row in rows:
            try:
                out.append((convert.config_from_json(row["config"]), BotStatus(row["status"])))
            except (ValidationError, ValueError) as e:
                raise StorageError(
                    f"the stored config of bot {row['name']!r} is invalid ({e}); fix it with "
                    "`oxbot bots export/import` or delete the bot"
                ) from e
        return out

    # ------------------------------------------------------------------ reads

    async def get_order(self, client_order_id: str) -> Order | None:
        """The order with this client order id (any bot), or None."""
        rows = await self._rows(select(orders).where(orders.c.client_order_id == client_order_id))
        return convert.order_from_row(rows[0]) if rows else None

    async def open_orders(self, bot: str | None = None) -> list[Order]:
        """Orders still pending or open, oldest first: of the live bot ``bot``, or of every bot
        (deleted ones too: their orders may still live on an exchange) when ``bot`` is None."""
        query = select(orders).where(orders.c.status.in_(_OPEN_STATUSES))
        if bot is not None:
            query = query.where(orders.c.bot_id == live_id(bot))
        rows = await self._rows(query.order_by(orders.c.ts, orders.c.client_order_id))
        return [convert.order_from_row(r) for r in rows]

    async def load_fills(self, bot: str) -> list[Fill]:
        """Every fill of the live bot, by time then insertion order (the paper wallet's source)."""
        rows = await self._rows(
            select(fills).where(fills.c.bot_id == live_id(bot)).order_by(fills.c.ts, fills.c.seq)
        )
        return [convert.fill_from_row(r) for r in rows]

    async def order_fills(self, client_order_id: str) -> list[Fill]:
        """The fills stored for one order, in the order they were applied."""
        rows = await self._rows(
            select(fills)
            .where(fills.c.client_order_id == client_order_id)
            .order_by(fills.c.ts, fills.c.seq)
        )
        return [convert.fill_from_row(r) for r in rows]

    async def load_positions(self, bot: str) -> dict[str, Position]:
        """The live bot's open positions by symbol."""
        rows = await self._rows(
            select(positions).where(positions.c.bot_id == live_id(bot)).order_by(positions.c.symbol)
        )
        return {r["symbol"]: convert.position_from_row(r) for r in rows}

    async def recent_fills(self, bot: str | None, limit: int) -> list[Fill]:
        """The newest ``limit`` fills (of every live bot when ``bot`` is None), oldest first."""
        query = select(fills)
        if bot is None:
            query = query.where(fills.c.bot_id.in_(select(bots.c.id).where(live())))
        else:
            query = query.where(fills.c.bot_id == live_id(bot))
        rows = await self._rows(query.order_by(fills.c.ts.desc(), fills.c.seq.desc()).limit(limit))
        return [convert.fill_from_row(r) for r in reversed(rows)]

    async def recent_decisions(self, bot: str, limit: int) -> list[DecisionRecord]:
        """The newest ``limit`` decisions of the bot, newest last."""
        rows = await self._rows(
            select(decisions)
            .where(decisions.c.bot_id == live_id(bot))
            .order_by(decisions.c.ts.desc(), decisions.c.id.desc())
            .limit(limit)
        )
        return [convert.decision_from_row(r) for r in reversed(rows)]

    async def equity_series(self, bot: str, limit: int = 2000) -> list[tuple[int, Decimal]]:
        """The newest ``limit`` (ts, equity) points of the bot, oldest first."""
        rows = await self._rows(
            select(equity_points.c.ts, equity_points.c.equity)
            .where(equity_points.c.bot_id == live_id(bot))
            .order_by(equity_points.c.ts.desc(), equity_points.c.id.desc())
            .limit(limit)
        )
        return [(r["ts"], r["equity"]) for r in reversed(rows)]

    async def equity_since(self, bot: str, since_ms: int = 0) -> list[tuple[int, Decimal]]:
        """Every (ts, equity) point of the live bot from ``since_ms`` on, oldest first (the
        stored series is thinned as it ages: storage/thinning.py)."""
        rows = await self._rows(
            select(equity_points.c.ts, equity_points.c.equity)
            .where(equity_points.c.bot_id == live_id(bot), equity_points.c.ts >= since_ms)
            .order_by(equity_points.c.ts, equity_points.c.id)
        )
        return [(int(r["ts"]), r["equity"]) for r in rows]

    async def last_equity_point(self, bot: str) -> EquityPoint | None:
        """The live bot's newest stored equity point (with its cash), or None."""
        rows = await self._rows(
            select(equity_points)
            .where(equity_points.c.bot_id == live_id(bot))
            .order_by(equity_points.c.ts.desc(), equity_points.c.id.desc())
            .limit(1)
        )
        return convert.equity_from_row(rows[0]) if rows else None

    async def decisions_since(self, bot: str, since_ms: int) -> tuple[int, int]:
        """(decisions, decisions with an error) the live bot stored from ``since_ms`` on."""
        async with self._reading() as conn:
            row = (
                await conn.execute(
                    select(func.count(), func.count().filter(decisions.c.error != "")).where(
                        decisions.c.bot_id == live_id(bot), decisions.c.ts >= since_ms
                    )
                )
            ).one()
        return int(row[0]), int(row[1])

    async def day_open_equity(self, bot: str) -> tuple[int, Decimal] | None:
        """(UTC day start in ms, the bot's first equity of that day plus the deposits and
        minus the withdrawals made after it) for the day of its newest equity point; None
        without points. Today's P&L (equity minus this) survives a restart with it, and a
        capital edit never shows in it."""
        bot_id = live_id(bot)
        last = await self._rows(
            select(equity_points.c.ts)
            .where(equity_points.c.bot_id == bot_id)
            .order_by(equity_points.c.ts.desc())
            .limit(1)
        )
        if not last:
            return None
        day = int(last[0]["ts"]) // DAY_MS * DAY_MS
        first = await self._rows(
            select(equity_points.c.ts, equity_points.c.equity)
            .where(equity_points.c.bot_id == bot_id, equity_points.c.ts >= day)
            .order_by(equity_points.c.ts, equity_points.c.id)
            .limit(1)
        )
        opened_ts, equity = int(first[0]["ts"]), first[0]["equity"]
        later = [f.amount for f in await self.load_flows(bot) if f.ts > opened_ts]
        return day, equity + convert.decimal_sum(later)

    async def load_flows(self, bot: str) -> list[CapitalFlow]:
        """The live bot's deposits and withdrawals, oldest first."""
        rows = await self._rows(
            select(capital_flows)
            .where(capital_flows.c.bot_id == live_id(bot))
            .order_by(capital_flows.c.ts, capital_flows.c.id)
        )
        return [convert.flow_from_row(r) for r in rows]

    async def load_risk_state(self, bot: str) -> RiskState | None:
        """What the live bot's kill switches remember; None before its first sample."""
        rows = await self._rows(select(risk_state).where(risk_state.c.bot_id == live_id(bot)))
        return convert.risk_from_row(rows[0]) if rows else None

    async def fill_count(self, bot: str) -> int:
        """How many fills the live bot has."""
        async with self._reading() as conn:
            result = await conn.execute(
                select(func.count()).select_from(fills).where(fills.c.bot_id == live_id(bot))
            )
            return int(result.scalar_one())

    async def decision_stats(self, bot: str, day_ts: int | None = None) -> dict[str, Any]:
        """count, failures (error set), tokens_in, tokens_out, cost and cost_today (Decimal,
        exact) of the bot's decisions; "today" is the wall-clock UTC day of ``day_ts`` (ms;
        default now), matched against when each decision was stored (money is spent in real
        time, whatever the market's clock says)."""
        day_start = (now_ms() if day_ts is None else day_ts) // DAY_MS * DAY_MS
        bot_id = live_id(bot)
        async with self._reading() as conn:
            head = (
                await conn.execute(
                    select(
                        func.count(),
                        func.count().filter(decisions.c.error != ""),
                        func.coalesce(func.sum(decisions.c.tokens_in), 0),
                        func.coalesce(func.sum(decisions.c.tokens_out), 0),
                    ).where(decisions.c.bot_id == bot_id)
                )
            ).one()
            # Costs are exact text: summed as Decimal here, never by SQLite's float SUM.
            costs = (
                await conn.execute(
                    select(decisions.c.created_ms, decisions.c.cost).where(
                        decisions.c.bot_id == bot_id
                    )
                )
            ).all()
        return {
            "count": int(head[0]),
            "failures": int(head[1]),
            "tokens_in": int(head[2]),
            "tokens_out": int(head[3]),
            "cost": convert.decimal_sum([c for _, c in costs]),
            "cost_today": convert.decimal_sum(
                [c for ts, c in costs if day_start <= ts < day_start + DAY_MS]
            ),
        }

    async def load_marks(self) -> dict[str, tuple[int, Decimal]]:
        """Where each sim stream stopped: stream key -> (last candle close ts, close). A row
        whose close is not a positive number (a 0 an old sim stored, damaged text) is left
        out, with a warning: the stream then starts afresh instead of failing the start."""
        close = type_coerce(market_marks.c.close, Text)  # raw text: parsed here, not trusted
        rows = await self._rows(select(market_marks.c.stream, market_marks.c.ts, close))
        out: dict[str, tuple[int, Decimal]] = {}
        for stream, ts, text in (tuple(r.values()) for r in rows):
            try:
                value = Decimal(str(text))
            except ArithmeticError:
                value = Decimal("NaN")
            if value.is_finite() and value > 0 and isinstance(ts, int):
                out[stream] = (ts, value)
            else:
                log.warning("stored last price of %s is %r, not a price: ignored", stream, text)
        return out

    async def integrity_check(self) -> str:
        """``PRAGMA integrity_check``: "ok" for a sound database, else SQLite's findings."""
        async with self._reading() as conn:
            rows = (await conn.exec_driver_sql("PRAGMA integrity_check")).all()
        return "\n".join(str(r[0]) for r in rows)
