"""`oxbot audit` and the cockpit's Audit screen: five checks per bot over a period, read from the
database (read-only, with or without an engine running).

1. no crashes: the bot is not in its error state and no decision of the period recorded an error;
2. SL/TP triggers: at least one stop-loss or take-profit fill in the period, or no position was
   opened in it ("no position opened");
3. capital drift: the cash recomputed from the net deposits, the capital flows and every fill
   (Decimal) differs from the stored cash (the newest equity point's) by less than 0.01 quote,
   and every open position recomputed from the fills (engine/portfolio.py, what a restart
   rebuilds) has the stored ``positions`` row's quantity and average entry;
4. maximum holding time: every position closed in the period, and every one still open, was held
   no longer than the bot's ``risk.max_hold_s`` plus one candle (the bot checks at candle closes);

The period and the age of an open position are taken on the bot's own clock: its newest equity
sample or fill (a sim bot may run ahead of the wall clock, or behind it when stopped); the wall
clock only for a bot with neither. An age is never negative.
5. cycles: at least 10 bar cycles in the period (stored equity samples: the bot takes one on
   every candle close it handles; rule holds are not stored as decisions, so those undercount).
   Points older than 24 h (from the bot's newest) are thinned to a few per hour
   (storage/thinning.py): over a longer period the count is a lower bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from oxbot.engine.errors import ConfigError
from oxbot.engine.models import (
    ZERO,
    BotConfig,
    BotStatus,
    CapitalFlow,
    Fill,
    OrderReason,
    Position,
    Side,
    timeframe_seconds,
)
from oxbot.engine.portfolio import Portfolio
from oxbot.storage.reads import now_ms
from oxbot.storage.store import Store

from .trips import round_trips

DRIFT_LIMIT = Decimal("0.01")
# the stored average entry is the engine's cost / qty (Decimal, 28 digits): equal up to rounding
ENTRY_TOLERANCE = Decimal("1e-12")
MIN_CYCLES = 10
CRITERIA = ("no crashes", "SL/TP triggers", "capital drift", "max holding time", "cycles")
_STOPS = (OrderReason.STOP_LOSS, OrderReason.TAKE_PROFIT)
# Exits the bot makes at a candle close BEFORE it samples equity (engine/bot.py ``_on_bar``)
_BEFORE_SAMPLE = (*_STOPS, OrderReason.TIME_EXIT)


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    passed: bool
    figure: str


@dataclass(frozen=True, slots=True)
class BotAudit:
    bot: str
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


def all_passed(results: Sequence[BotAudit]) -> bool:
    return bool(results) and all(r.passed for r in results)


def to_json(results: Sequence[BotAudit], hours: float) -> dict[str, Any]:
    return {
        "hours": hours,
        "passed": all_passed(results),
        "bots": [
            {
                "bot": r.bot,
                "passed": r.passed,
                "checks": [
                    {"name": c.name, "passed": c.passed, "figure": c.figure} for c in r.checks
                ],
            }
            for r in results
        ],
    }


def audit_db(
    path: Path | str, bots: Sequence[str] = (), hours: float = 24, now: int | None = None
) -> list[BotAudit]:
    """Audit the bots named (every bot when none) of the database at ``path``; blocking (the
    cockpit calls it on a worker thread). ConfigError for an unknown bot."""
    return asyncio.run(_audit_path(Path(path), tuple(bots), hours, now))


async def _audit_path(
    path: Path, bots: tuple[str, ...], hours: float, now: int | None
) -> list[BotAudit]:
    store = await Store.open(path, writer=False)
    try:
        return await audit_store(store, bots, hours, now)
    finally:
        await store.close()


async def audit_store(
    store: Store, bots: Sequence[str] = (), hours: float = 24, now: int | None = None
) -> list[BotAudit]:
    stored = {cfg.name: (cfg, status) for cfg, status in await store.load_bots()}
    unknown = [b for b in bots if b not in stored]
    if unknown:
        raise ConfigError(f"no bot named {unknown[0]!r}; see `oxbot bots list`")
    span = int(hours * 3_600_000)
    return [await _audit_bot(store, *stored[n], span, now) for n in (bots or list(stored))]


async def _audit_bot(
    store: Store, cfg: BotConfig, status: BotStatus, span: int, now: int | None
) -> BotAudit:
    name = cfg.name
    fills = await store.load_fills(name)
    flows = await store.load_flows(name)
    last = await store.last_equity_point(name)
    end = now if now is not None else _bot_clock(fills, last)
    since = end - span
    recent = [f for f in fills if f.ts >= since]
    _decisions, errors = await store.decisions_since(name, since)
    samples = len({ts for ts, _ in await store.equity_since(name, since)})
    positions = await store.load_positions(name)
    return BotAudit(
        name,
        (
            _crashes(status, errors),
            _stops(recent),
            _ledger(cfg, fills, flows, None if last is None else (last.ts, last.cash), positions),
            _max_hold(cfg, fills, [p.opened_ts for p in positions.values()], since, end),
            Check(CRITERIA[4], samples >= MIN_CYCLES, f"{samples} cycles (need {MIN_CYCLES})"),
        ),
    )


def _bot_clock(fills: list[Fill], last: Any) -> int:
    """The bot's own newest time: its newest equity sample or fill; the wall clock without."""
    times = [f.ts for f in fills] + ([] if last is None else [last.ts])
    return max(times) if times else now_ms()


def _crashes(status: BotStatus, errors: int) -> Check:
    said = [f"{errors} decision error{'s' * (errors != 1)}"]
    if status is BotStatus.ERROR:
        said.insert(0, "bot in error state")
    return Check(CRITERIA[0], status is not BotStatus.ERROR and errors == 0, "; ".join(said))


def _stops(recent: list[Fill]) -> Check:
    hits = sum(1 for f in recent if f.reason in _STOPS)
    if not any(f.side is Side.BUY for f in recent):
        return Check(CRITERIA[1], True, f"no position opened ({hits} triggers)")
    return Check(CRITERIA[1], hits > 0, f"{hits} triggers")


def _cash_effect(f: Fill) -> Decimal:
    fee = ZERO if f.base_fee else f.fee
    return -(f.notional + fee) if f.side is Side.BUY else f.notional - fee


def _drift(
    cfg: BotConfig, fills: list[Fill], flows: list[CapitalFlow], last: tuple[int, Decimal] | None
) -> Check:
    """The stored cash is the newest equity sample's. Fills at that very candle close may come
    before the sample (SL/TP and time exits) or after it (the cycle's orders): the closest of
    those orders is compared."""
    if last is None:
        ok = not fills
        return Check(CRITERIA[2], ok, "0 (no trading)" if ok else "no stored cash sample")
    ts, cash = last
    start = cfg.capital - sum((f.amount for f in flows), ZERO)
    base = start + sum((f.amount for f in flows if f.ts <= ts), ZERO)
    before = base + sum((_cash_effect(f) for f in fills if f.ts < ts), ZERO)
    at = [f for f in fills if f.ts == ts]
    stops = before + sum((_cash_effect(f) for f in at if f.reason in _BEFORE_SAMPLE), ZERO)
    every = before + sum((_cash_effect(f) for f in at), ZERO)
    drift = min(abs(c - cash) for c in (before, stops, every))
    return Check(CRITERIA[2], drift < DRIFT_LIMIT, f"{drift.normalize():f} {cfg.quote}")


def _ledger(
    cfg: BotConfig,
    fills: list[Fill],
    flows: list[CapitalFlow],
    last: tuple[int, Decimal] | None,
    stored: dict[str, Position],
) -> Check:
    """The cash drift, then every open position the fills give against the stored rows."""
    cash = _drift(cfg, fills, flows, last)
    wrong = _positions(cfg, fills, stored)
    if not wrong:
        return cash
    return Check(CRITERIA[2], False, "; ".join([cash.figure, *wrong]))


def _positions(cfg: BotConfig, fills: list[Fill], stored: dict[str, Position]) -> list[str]:
    try:
        held = Portfolio.from_fills(cfg.capital, sorted(fills, key=lambda f: f.ts)).positions
    except ValueError as e:  # a sell of more than the fills bought
        return [f"fills do not add up: {e}"]
    wrong = []
    for symbol in sorted(set(held) | set(stored)):
        want, got = held.get(symbol), stored.get(symbol)
        w_qty, g_qty = (ZERO if p is None else p.qty for p in (want, got))
        if w_qty != g_qty:
            wrong.append(f"{symbol} qty stored {_num(g_qty)} vs fills {_num(w_qty)}")
        elif want is not None and got is not None:
            if abs(want.avg_entry - got.avg_entry) > ENTRY_TOLERANCE * want.avg_entry:
                wrong.append(
                    f"{symbol} avg entry stored {_num(got.avg_entry)} "
                    f"vs fills {_num(want.avg_entry)}"
                )
    return wrong


def _num(d: Decimal) -> str:
    return f"{d.normalize():f}"


def _max_hold(cfg: BotConfig, fills: list[Fill], open_ts: list[int], since: int, end: int) -> Check:
    limit = cfg.risk.max_hold_s
    if limit is None:
        return Check(CRITERIA[3], True, "no limit set")
    held = [t.duration_s for t in round_trips(fills) if t.exit_ts >= since]
    held += [max(0, end - ts) // 1000 for ts in open_ts]
    longest = max(held, default=0)
    allowed = limit + timeframe_seconds(cfg.timeframe)  # the check runs at candle closes
    return Check(
        CRITERIA[3],
        longest <= allowed,
        f"longest {_span(longest)} (limit {_span(limit)} + 1 candle)",
    )


def _span(seconds: int) -> str:
    h, rest = divmod(seconds, 3600)
    return f"{h}h {rest // 60:02d}m"
