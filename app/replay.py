"""`oxbot replay BOT`: a bot's stored decisions re-run through today's (or changed) risk limits
and broker costs, side by side with what was stored (engine/backtest/replay.py does the run).

Where the prices come from: the candles of the bot's market, read as `oxbot backtest --bot`
reads them (a --csv file per symbol, else the candle cache; app/backtests.py ``bot_frames``).
A decision fills at the close of the candle it was made on, the price the live bot filled at;
SL/TP and time exits between decisions are replayed from the same candles. The stored fills,
prompts and equity points are not used as prices: a fill exists only where an order was sent
and carries the slippage, a prompt only for LLM bots, and equity points are thinned as they age.
Limits: the candles must be the ones the bot traded (a different file gives other prices);
capital added or withdrawn is replayed when it happened (the wallet and the kill switches'
references move with it; return is P&L over the start plus deposits); with --since the replay starts
from the positions the stored fills give at that time (their stored SL/TP), and the kill
switches remember the peak and the day's opening equity the stored equity samples give (exact
while the samples are not thinned: storage/thinning.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from oxbot.app.trips import RoundTrip, round_trips
from oxbot.engine.backtest.metrics import max_drawdown_pct
from oxbot.engine.backtest.replay import VerdictPair, replay
from oxbot.engine.errors import UsageError
from oxbot.engine.models import (
    HUNDRED,
    ZERO,
    BotConfig,
    CapitalFlow,
    DecisionRecord,
    Fill,
    OrderReason,
    RiskLimits,
    RiskState,
    Side,
    timeframe_seconds,
)
from oxbot.engine.portfolio import Portfolio
from oxbot.engine.risk import parse_hold

BPS = Decimal(10_000)
DAY_MS = 86_400_000


class NothingToReplay(UsageError):
    """The bot has no stored decisions (in the range asked for)."""


@dataclass(frozen=True)
class Outcome:
    """One side of the comparison: the fills, the closed trades, the equity path."""

    fills: list[Fill]
    trips: list[RoundTrip]
    start_equity: Decimal
    final_equity: Decimal
    max_drawdown_pct: float
    deposits: Decimal = ZERO  # capital added (net of withdrawals) within the range

    @property
    def pnl(self) -> Decimal:
        """The gain, never the money the user put in: final - start - deposits."""
        return self.final_equity - self.start_equity - self.deposits

    @property
    def return_pct(self) -> Decimal:
        """P&L over the money in: the start plus what was deposited in the range."""
        base = self.start_equity + max(self.deposits, ZERO)
        if base <= 0:
            return ZERO
        return self.pnl / base * HUNDRED

    def to_json(self) -> dict[str, Any]:
        return {
            "fills": len(self.fills),
            "trades": len(self.trips),
            "start_equity": str(self.start_equity),
            "final_equity": str(self.final_equity),
            "deposits": str(self.deposits),
            "pnl": str(self.pnl),
            "return_pct": round(float(self.return_pct), 4),
            "max_drawdown_pct": round(self.max_drawdown_pct, 4),
            "trade_list": [trip_json(t) for t in self.trips],
        }


def trip_key(t: RoundTrip) -> tuple[str, int, int, Decimal, Decimal, Decimal]:
    """What makes two closed trades the same trade."""
    return (t.symbol, t.entry_ts, t.exit_ts, t.qty, t.entry_price, t.exit_price)


def trip_json(t: RoundTrip) -> dict[str, Any]:
    return {
        "symbol": t.symbol,
        "entry_ts": t.entry_ts,
        "exit_ts": t.exit_ts,
        "qty": str(t.qty),
        "entry_price": str(t.entry_price),
        "exit_price": str(t.exit_price),
        "pnl": str(t.pnl),
        "reason": t.reason,
    }


@dataclass
class ReplayReport:
    bot: str
    since_ms: int
    until_ms: int
    changes: dict[str, str]  # what was changed: risk keys, fee_rate, slippage_bps
    verdicts: list[VerdictPair]
    stored: Outcome
    replayed: Outcome
    notes: list[str] = field(default_factory=list)
    candles_match: bool = True  # every stored fill lies in its candle's range

    @property
    def differing(self) -> list[VerdictPair]:
        return [v for v in self.verdicts if not v.same]

    def only(self, side: str) -> list[RoundTrip]:
        """The closed trades only one side has ("stored" or "replayed")."""
        mine, other = (
            (self.stored, self.replayed) if side == "stored" else (self.replayed, self.stored)
        )
        theirs = {trip_key(t) for t in other.trips}
        return [t for t in mine.trips if trip_key(t) not in theirs]

    def to_json(self) -> dict[str, Any]:
        return {
            "bot": self.bot,
            "since_ms": self.since_ms,
            "until_ms": self.until_ms,
            "changes": self.changes,
            "decisions": len(self.verdicts),
            "same": len(self.verdicts) - len(self.differing),
            "different": len(self.differing),
            "differing": [
                {
                    "ts": v.ts,
                    "actions": v.actions,
                    "stored": {"verdict": v.stored_status, "reasons": v.stored_reasons},
                    "replayed": {"verdict": v.status, "reasons": v.reasons},
                }
                for v in self.differing
            ],
            "stored": self.stored.to_json(),
            "replayed": self.replayed.to_json(),
            "notes": self.notes,
            "candles_match": self.candles_match,
        }


def risk_changes(limits: RiskLimits, items: Sequence[str]) -> RiskLimits:
    """``limits`` with ``KEY=VALUE`` changes, validated by RiskLimits. UsageError naming the
    key (and the allowed keys) for an unknown key, a bad value or a value out of range."""
    keys = list(RiskLimits.model_fields)
    update: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise UsageError(f"--risk {item!r} must look like KEY=VALUE, e.g. max_position_pct=5")
        if key not in keys:
            raise UsageError(f"--risk {key}: not a risk limit; the limits are: {', '.join(keys)}")
        if key == "max_hold_s":
            try:
                update[key] = parse_hold(value)
            except ValueError as e:
                raise UsageError(f"--risk {key}: {e}") from None
        else:
            update[key] = value
    try:
        return RiskLimits.model_validate({**limits.model_dump(), **update})
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or ", ".join(update)
        msg = err["msg"].removeprefix("Value error, ")
        raise UsageError(f"--risk {where}: {msg}") from None


@dataclass
class _Ledger:
    config: BotConfig
    records: list[DecisionRecord]
    fills: list[Fill]
    equity: list[tuple[int, Decimal]]
    flows: list[CapitalFlow]


async def _read(db: Path, bot: str) -> _Ledger:
    from oxbot.app.backtests import stored_bot  # noqa: PLC0415
    from oxbot.storage.store import Store  # noqa: PLC0415

    config = await stored_bot(bot, db)
    store = await Store.open(db, writer=False)
    try:
        # every decision of the bot (recent_decisions: the newest N, oldest first)
        records = await store.recent_decisions(bot, 10**9)
        fills = await store.load_fills(bot)
        equity = await store.equity_since(bot, 0)
        flows = await store.load_flows(bot)
    finally:
        await store.close()
    return _Ledger(config, records, fills, equity, flows)


async def _stops(db: Path, order_ids: Sequence[str]) -> dict[str, tuple[Any, Any]]:
    """client order id -> (SL, TP) of the stored order."""
    from oxbot.storage.store import Store  # noqa: PLC0415

    out = {}
    store = await Store.open(db, writer=False)
    try:
        for oid in order_ids:
            order = await store.get_order(oid)
            if order is not None:
                out[oid] = (order.stop_loss, order.take_profit)
    finally:
        await store.close()
    return out


def _range(
    led: _Ledger, since: int | None, until: int | None, step: int
) -> tuple[int, int, list[DecisionRecord]]:
    """The candles to run (open times [lo, hi)) and the decisions in the range asked for."""
    name = led.config.name
    if not led.records:
        raise NothingToReplay(f"bot {name} has no stored decisions: nothing to replay")
    lo = since if since is not None else -(2**62)
    hi = until if until is not None else 2**62
    records = [r for r in led.records if lo <= r.ts < hi]
    if not records:
        raise NothingToReplay(
            f"bot {name} has no stored decisions in the range asked for "
            f"({len(led.records)} in all, from {_utc(led.records[0].ts)} to "
            f"{_utc(led.records[-1].ts)} UTC)"
        )
    # The bot's own span: its first equity sample (the close of its first candle) to its last
    # stored fact; a decision at close T is made on the candle opening at T - step.
    times = [r.ts for r in led.records] + [f.ts for f in led.fills] + [t for t, _ in led.equity]
    first = min(times) - step
    last = max(times)
    # from --since: every candle that closes after it (its ticks may come before it); to
    # --until: every candle that closes before it
    return max(lo - step, first), min(hi - step, last), records


def _utc(ms: int) -> str:
    from oxbot.app.backtests import utc  # noqa: PLC0415

    return str(utc(ms))


def _start(db: Path, led: _Ledger, since: int) -> tuple[Portfolio, list[Fill]]:
    """The wallet at ``since``: the capital the bot started with (today's capital less every
    deposit and withdrawal since), the stored fills and flows before ``since``, each open
    position with the SL/TP of its last buy's order."""
    before = [f for f in led.fills if f.ts < since and f.symbol in led.config.symbols]
    start = led.config.capital - sum((f.amount for f in led.flows), ZERO)
    pf = Portfolio.from_fills(start, before, flows=[f for f in led.flows if f.ts < since])
    # each buy sets its position's SL/TP (engine/bot.py, the ledger writer): the last one's hold
    opener = {f.symbol: f.client_order_id for f in before if f.side is Side.BUY}
    opener = {s: oid for s, oid in opener.items() if pf.position(s) is not None}
    stops = asyncio.run(_stops(db, list(opener.values()))) if opener else {}
    for sym, oid in opener.items():
        if oid in stops:
            pf.set_stops(sym, *stops[oid])
    return pf, before


def _memory(led: _Ledger, since: int) -> RiskState | None:
    """The kill switches' memory at ``since`` as the stored equity samples give it: the peak
    before it, and the opening equity of its UTC day when that day began before it (the
    samples are thinned as they age: storage/thinning.py; then this is approximate)."""
    before = [(t, e) for t, e in led.equity if t < since]
    if not before:
        return None
    day = since // DAY_MS
    today = [e for t, e in before if t // DAY_MS == day]
    if not today:  # the day's first sample comes after: the switch takes it then
        return RiskState(max(e for _, e in before), None, None)
    return RiskState(max(e for _, e in before), day, today[0])


def run_replay(
    db: Path,
    bot: str,
    *,
    csv: dict[str, str] | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
    risk: Sequence[str] = (),
    fee_bps: Decimal | None = None,
    slippage_bps: Decimal | None = None,
) -> ReplayReport:
    """Replay bot ``bot`` of database ``db`` (blocking). UsageError for an unknown bot, a bad
    --risk; NothingToReplay when there is nothing to replay; DataError for missing candles."""
    from oxbot.app.backtests import BotBacktest, bot_frames  # noqa: PLC0415

    led = asyncio.run(_read(db, bot))
    config = led.config
    changes: dict[str, str] = {}
    if risk:
        limits = risk_changes(config.risk, risk)
        changes.update(
            {k: str(v) for k, v in limits.model_dump().items() if v != config.risk.model_dump()[k]}
        )
        config = config.model_copy(update={"risk": limits})
    if fee_bps is not None:
        config = config.model_copy(update={"fee_rate": fee_bps / BPS})
        changes["fee_rate"] = str(fee_bps / BPS)
    if slippage_bps is not None:
        config = config.model_copy(update={"slippage_bps": slippage_bps})
        changes["slippage_bps"] = str(slippage_bps)
    step = timeframe_seconds(config.timeframe) * 1000
    lo, hi, records = _range(led, since_ms, until_ms, step)
    unknown = sorted(set(csv or {}) - set(config.symbols))
    if unknown:
        raise UsageError(
            f"--csv {', '.join(unknown)}: bot {bot} does not trade "
            f"{'it' if len(unknown) == 1 else 'them'} (its symbols: {', '.join(config.symbols)})"
        )
    frames = bot_frames(BotBacktest(config, csv or {}, db=db))
    mismatch = candles_mismatch(frames, led.fills, step, config.slippage_bps)
    portfolio, before = _start(db, led, since_ms if since_ms is not None else lo)
    memory = _memory(led, since_ms) if since_ms is not None else None
    begin_flows = since_ms if since_ms is not None else lo
    later = [f for f in led.flows if f.ts >= begin_flows]
    done = replay(config, frames, records, lo, hi, portfolio, before, memory, later)
    result = done.run
    fills = result.fills
    begin = since_ms if since_ms is not None else lo
    end = until_ms - 1 if until_ms is not None else hi  # the last time in the range

    def inside(ts: int) -> bool:
        return begin <= ts <= end

    in_range = [f for f in led.fills if inside(f.ts)]
    stored_eq = [(t, e) for t, e in led.equity if inside(t)]
    start = stored_eq[0][1] if stored_eq else portfolio.cash
    notes = []
    if mismatch:
        notes.insert(0, mismatch)
    if not stored_eq:
        notes.append("no stored equity samples in the range: the stored side starts at the cash")
    stored_final = start
    if stored_eq:
        last_ts, last = stored_eq[-1]
        stored_final = last + unseen_by_sample(in_range, last_ts, frames, step)
    stored = Outcome(
        in_range,
        _trips(before, in_range),
        start,
        stored_final,
        max_drawdown_pct(np.asarray([float(e) for _, e in stored_eq], dtype=np.float64))
        if stored_eq
        else 0.0,
        done.deposits,
    )
    replayed = Outcome(
        fills,
        _trips(before, fills),
        start,
        result.final_equity,
        max_drawdown_pct(result.equity) if len(result.equity) else 0.0,
        done.deposits,
    )
    differ = sum(1 for v in done.verdicts if not v.same) if not changes else 0
    if differ:
        notes.append(
            f"{differ:,} verdicts differ although no limit or cost was changed: the bot's "
            "settings were probably edited after those decisions (the replay uses today's "
            "settings for every decision)"
        )
    if done.deposits:
        notes.append(
            f"capital flows in the range: {done.deposits:+,} replayed when they happened; "
            "return is P&L over the start plus deposits"
        )
    return ReplayReport(
        bot, begin, end, changes, done.verdicts, stored, replayed, notes, not mismatch
    )


# Exits a bar's range triggers are booked before that bar's equity sample (engine/bot.py
# ``_on_bar``: stop/target/time exits, then the sample, then the decision cycle).
_BEFORE_SAMPLE = frozenset({OrderReason.STOP_LOSS, OrderReason.TAKE_PROFIT, OrderReason.TIME_EXIT})


def unseen_by_sample(
    fills: Sequence[Fill], last_ts: int, frames: Mapping[str, pd.DataFrame], step: int
) -> Decimal:
    """What the fills the last stored equity sample did not see changed the equity, valued at
    the closes that sample used: the decision's own fills at that close (the sample is taken
    before the decision) and any later one. Without it the stored side's final equity is one
    decision's fees and slippage off a replay that made the very same fills (adversary F11)."""
    change = ZERO
    for f in fills:
        if f.ts < last_ts or (f.ts == last_ts and f.reason in _BEFORE_SAMPLE):
            continue
        frame = frames.get(f.symbol)
        if frame is None:
            continue
        at = np.flatnonzero(frame["ts"].to_numpy(np.int64) == last_ts - step)
        if not len(at):
            continue
        mark = Decimal(str(frame["close"].iat[int(at[0])]))
        sign = 1 if f.side is Side.BUY else -1
        change += sign * f.qty * (mark - f.price) - f.fee
    return change


def candles_mismatch(
    frames: Mapping[str, pd.DataFrame], fills: Sequence[Fill], step: int, slippage_bps: Decimal
) -> str:
    """ "" when every stored fill's price lies in the range of the candle it was made in (its
    slippage and 0.5 % allowed); else a warning naming how many do not, and the first: the
    candles given are not the ones the bot traded, so the comparison means nothing."""
    tol = float(slippage_bps) / 10_000 + 0.005
    index = {
        sym: dict(zip(f["ts"].to_numpy(np.int64).tolist(), range(len(f)), strict=True))
        for sym, f in frames.items()
    }
    bad: list[Fill] = []
    seen = 0
    for fill in fills:
        frame, rows = frames.get(fill.symbol), index.get(fill.symbol, {})
        if frame is None:
            continue
        # a fill at a close T was made in the candle opening at T - step; a stop's on a tick
        # inside the candle opening at floor(T / step) * step
        opens = {fill.ts - step, (fill.ts // step) * step, ((fill.ts - 1) // step) * step}
        found = [rows[o] for o in opens if o in rows]
        if not found:
            continue
        seen += 1
        price = float(fill.price)
        if not any(
            float(frame["low"].iat[i]) * (1 - tol)
            <= price
            <= float(frame["high"].iat[i]) * (1 + tol)
            for i in found
        ):
            bad.append(fill)
    if not bad:
        return ""
    f = bad[0]
    return (
        f"WARNING: {len(bad):,} of {seen:,} stored fills lie outside the candles given (first: "
        f"{f.symbol} {f.side.value} at {f.price} at {_utc(f.ts)} UTC): these are not the candles "
        "the bot traded, so the comparison below does not tell what would have differed; give "
        "the bot's own candles with --csv"
    )


def _trips(before: list[Fill], fills: list[Fill]) -> list[RoundTrip]:
    """The round trips closed by ``fills`` (those opened before count when they close here)."""
    start = len(round_trips(before))
    return round_trips([*before, *fills])[start:]
