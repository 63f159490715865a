"""Backtest a bot as configured: all its symbols at once, one shared cash balance, its risk
limits, fees and slippage, in the live engine's order of events.

The live engine (engine/market/hub.py ``MarketHub._conduct`` and engine/bot.py ``BotRunner``)
does, at each candle close T of the streams that are due:

1. four intra-candle ticks per stream (``intra_candle_prices``: open, the nearer extreme, the
   other, close), phase by phase across the due streams, each at ``T - step + step*phase//4``;
   on each the bot marks the symbol and sells a position whose SL/TP the price reached
   (``_on_tick``: ``stop_hit(pos, p, p, p)``, the fill at the level or at a price beyond it);
2. each due stream's bar, in subscription order (the bot's symbols): the mark becomes the close
   and the bar's range is checked for SL/TP (``_on_bar``);
3. once every symbol's bar at T has arrived (a symbol whose bar is missing at T means no
   decision at T): an equity sample (the kill switches' peak and the UTC day's opening equity,
   ``RiskManager.observe``), then, when due by the cadence, the cycle: the strategy decides on
   the frames ending at T (``Strategy.decide``: ENTER when flat -> BUY, EXIT when held ->
   CLOSE), the RiskManager sizes it against the portfolio at the closes, and the paper broker
   fills each intent at the close with slippage and fee; the fills are booked in order, with
   the SL/TP of each buy's order.

This module runs those steps in one synchronous loop with the same RiskManager, PaperBroker and
Portfolio; the signals come from ``strategy.signals`` over each symbol's whole history (what
``decide`` reads at the frame's last row). Candles before ``since_ms`` only warm the indicators
up, as the history a live stream starts with.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..arrays import Floats, Signals, Times
from ..errors import ConfigError, DataError
from ..market.kernels import compute_fast
from ..market.sim import intra_candle_prices
from ..models import (
    ZERO,
    Action,
    BotConfig,
    Candle,
    Decision,
    Fill,
    OrderIntent,
    OrderReason,
    Position,
    Side,
    SymbolDecision,
    Verdict,
    timeframe_seconds,
    to_decimal,
)
from ..paper import PaperBroker
from ..portfolio import Portfolio
from ..risk import DEFAULT_RULES as _RULES
from ..risk import RiskManager, hold_expired, sellable, stop_hit
from ..strategies.base import ENTER, EXIT, Strategy
from ..strategies.checks import run_signals, user_code
from .ledger import Trade

if TYPE_CHECKING:
    from .llmrun import LlmReplay

Progress = Callable[[float], None]


@dataclass
class _Series:
    """One symbol's candles as arrays, with its signals over the whole history."""

    ts: Times
    ohlcv: Floats  # (n, 5): open, high, low, close, volume
    signals: Signals
    index: dict[int, int]  # candle open time -> row


@dataclass
class SymbolReport:
    symbol: str
    trades: list[Trade] = field(default_factory=list)
    fees: Decimal = ZERO  # every fill of the symbol, open position included
    open_qty: Decimal = ZERO
    unrealised: Decimal = ZERO  # of the open position at the last close, before exit fees
    first_close: float = 0.0
    last_close: float = 0.0

    @property
    def pnl(self) -> Decimal:
        """Closed trades' P&L net of their fees."""
        return sum((t.pnl for t in self.trades), ZERO)

    @property
    def wins(self) -> int:
        return sum(1 for t in self.trades if t.pnl > 0)


@dataclass
class BotRunResult:
    fills: list[Fill]
    symbols: dict[str, SymbolReport]
    ts: Times  # the decision times (candle closes where every symbol had a bar)
    equity: Floats  # equity at each of those closes
    held: Floats  # 1 where any position was open at that close
    start_cash: Decimal
    cash: Decimal  # final cash (exact)
    final_equity: Decimal  # cash + open positions at the last closes
    decisions: int = 0
    rejected: int = 0
    halts: list[tuple[int, str]] = field(default_factory=list)
    elapsed_s: float = 0.0
    # An LLM bot's run: decision points asked of the model, the ones whose reply was not in
    # the cache under --cache-only, and the strategy's call figures (its ``stats``).
    llm_points: int = 0
    llm_missing: list[int] = field(default_factory=list)
    llm_stats: dict[str, Any] = field(default_factory=dict)


def prepare(
    strategy: Strategy, frames: Mapping[str, pd.DataFrame], symbols: Sequence[str]
) -> dict[str, _Series]:
    """Indicators and signals over each symbol's whole history (market/kernels.py)."""
    out = {}
    with user_code(strategy):
        specs = strategy.indicators()
    for sym in symbols:
        frame = frames[sym]
        full = compute_fast(frame, specs)
        sig = run_signals(strategy, full)
        ts = frame["ts"].to_numpy(np.int64)
        ohlcv = frame[["open", "high", "low", "close", "volume"]].to_numpy(np.float64)
        out[sym] = _Series(ts, ohlcv, sig, {int(t): i for i, t in enumerate(ts)})
    return out


class BotRun:
    """One bot's simulation: the live BotRunner's steps without the event loop."""

    def __init__(self, config: BotConfig, strategy: Strategy, cash: Decimal | None = None) -> None:
        self.config = config
        self.symbols = config.symbols
        self.strategy = strategy
        self.step_ms = timeframe_seconds(config.timeframe) * 1000
        self.portfolio = Portfolio(cash if cash is not None else config.capital)
        self.risk = RiskManager(config.risk, config.fee_rate)
        self.broker = PaperBroker(config.fee_rate, config.slippage_bps)
        ids = itertools.count(1)
        self.new_id: Callable[[], str] = lambda: f"bt-{next(ids)}"
        self.marks: dict[str, Decimal] = {}
        self.fills: list[Fill] = []
        self.last_cycle_ts: int | None = None
        self.decisions = self.rejected = 0
        self.halts: list[tuple[int, str]] = []
        self._blocked: str | None = None
        with user_code(strategy):
            self._warmup = strategy.warmup()

    # ------------------------------------------------------------------ the ledger

    def _book(self, intent: OrderIntent, price: Decimal, ts: int) -> None:
        """The paper fill of ``intent`` at ``price``, booked as the ledger writer does."""
        fill = self.broker.fill(intent, price, ts)
        if fill.ts < self.portfolio.last_fill_ts:
            fill = replace(fill, ts=self.portfolio.last_fill_ts)
        realised = self.portfolio.apply(fill)
        if intent.side is Side.BUY and self.portfolio.position(intent.symbol) is not None:
            self.portfolio.set_stops(intent.symbol, intent.stop_loss, intent.take_profit)
        self.fills.append(replace(fill, realised=realised))

    def _tradable(self, sym: str) -> Position | None:
        pos = self.portfolio.position(sym)
        if pos is None:
            return None
        mark = self.marks.get(sym, pos.avg_entry)
        return pos if sellable(pos.qty, mark, _RULES) > 0 else None

    def _exit(self, pos: Position, reason: OrderReason, price: Decimal, ts: int) -> None:
        qty = sellable(pos.qty, price, _RULES)
        if qty <= 0:
            return
        intent = OrderIntent(
            self.config.name, pos.symbol, Side.SELL, qty, reason, self.new_id(), limit_price=price
        )
        self._book(intent, price, ts)

    # ------------------------------------------------------------------ market input

    def on_tick(self, sym: str, price: float, ts: int) -> None:
        pos = self.portfolio.position(sym)
        if pos is None:
            # The live bot marks every tick; a flat symbol's mark is read by nothing before its
            # bar sets the close (equity is sampled after every bar), so it is skipped here.
            return
        p = to_decimal(price)
        self.marks[sym] = p
        hit = stop_hit(pos, p, p, p)
        if hit and self._tradable(sym) is not None:
            self._exit(pos, hit[0], hit[1], ts)

    def on_bar(self, sym: str, c: Candle, close_ts: int) -> None:
        self.marks[sym] = to_decimal(c.close)
        pos = self.portfolio.position(sym)
        if pos is None:
            return
        hit = stop_hit(pos, to_decimal(c.low), to_decimal(c.high))
        if hit and self._tradable(sym) is not None:
            self._exit(pos, hit[0], hit[1], close_ts)
        elif (
            hold_expired(pos, self.config.risk.max_hold_s, close_ts)
            and self._tradable(sym) is not None
        ):
            self._exit(pos, OrderReason.TIME_EXIT, to_decimal(c.close), close_ts)

    def sample(self, ts: int) -> Decimal:
        eq = self.portfolio.equity(self.marks)
        self.risk.observe(eq, ts)
        return eq

    def due(self, ts: int) -> bool:
        cad = self.config.cadence_s * 1000
        return not (cad and self.last_cycle_ts is not None and ts - self.last_cycle_ts < cad)

    # ------------------------------------------------------------------ the cycle

    def cycle(self, ts: int, rows: Mapping[str, int], series: Mapping[str, _Series]) -> None:
        self.last_cycle_ts = ts
        held = {s for s in self.symbols if self._tradable(s) is not None}
        items = []
        for sym in self.symbols:
            row = rows[sym]
            if row + 1 < self._warmup:
                items.append(SymbolDecision(sym, Action.HOLD, reasoning="warming up"))
                continue
            sig = int(series[sym].signals[row])
            if sig == ENTER and sym not in held:
                action = Action.BUY
            elif sig == EXIT and sym in held:
                action = Action.CLOSE
            else:
                action = Action.HOLD
            items.append(SymbolDecision(sym, action))
        decision = Decision(self.config.name, ts, tuple(items), source="rule")
        if decision.is_hold:
            return
        self.act(decision, ts)

    def act(self, decision: Decision, ts: int) -> Verdict:
        """A decision that is not a hold: the kill switches noted, the risk manager's verdict,
        its intents booked at the close (BotRunner._act executes every intent before booking)."""
        self.decisions += 1
        if any(i.action is Action.BUY for i in decision.items):
            self._note_halt(self.risk.entry_block(self.portfolio.equity(self.marks)), ts)
        verdict = self.risk.check(decision, self.portfolio, self.marks, self.new_id)
        if not verdict.intents:
            self.rejected += 1
        for intent in verdict.intents:
            self._book(intent, self.marks[intent.symbol], ts)
        return verdict

    def _note_halt(self, block: str | None, ts: int) -> None:
        """A kill switch or the daily loss limit, the first time it blocks an entry."""
        kind = block.split(":", 1)[0] if block else None
        if kind is not None and kind != self._blocked:
            self.halts.append((ts, block or ""))
        self._blocked = kind


def check_replayable(strategy: Strategy) -> None:
    """ConfigError for a strategy that decides other than from ``signals`` (it overrides
    ``decide`` or ``wants_decision``): the simulation would not be what the live bot does."""
    if _is_llm(strategy):
        return  # the LLM path asks decide() itself (llmrun.py)
    cls = type(strategy)
    own = [n for n in ("decide", "wants_decision") if getattr(cls, n) is not getattr(Strategy, n)]
    if own:
        raise ConfigError(
            f"strategy {strategy.name} has its own {' and '.join(own)}(): a bot backtest "
            "replays the decisions signals(frame) gives, so it would not be what the bot does live"
        )


def _is_llm(strategy: Strategy) -> bool:
    """The LLM strategy (its module, and httpx, load only then)."""
    if strategy.name != "llm":
        return False
    from .llmrun import is_llm  # noqa: PLC0415

    return is_llm(strategy)


def check_schedule(config: BotConfig) -> None:
    """ConfigError for a bot the replay cannot schedule as the live engine does: a cron bot
    decides at cron times and ticks, which candle closes alone do not reproduce."""
    if config.cron:
        raise ConfigError(
            f"bot {config.name} decides on a cron schedule ({config.cron}); a bot backtest "
            "replays decisions at candle closes (its cadence), so it would not be what the bot "
            "does live: clear the cron (or back-test a copy of the bot without it)"
        )


def run_bot(
    config: BotConfig,
    strategy: Strategy,
    frames: Mapping[str, pd.DataFrame],
    *,
    cash: Decimal | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
    progress: Progress | None = None,
    llm: LlmReplay | None = None,
) -> BotRunResult:
    """Simulate the bot over ``frames`` (symbol -> candles as ``load_csv`` returns, open times
    in ms). Candles opening before ``since_ms`` warm the indicators up; the run trades the
    candles opening in [since_ms, until_ms) where the symbols' ranges overlap. DataError when
    a symbol has no candles or the ranges do not overlap.

    An LLM strategy is asked through ``llm`` (its reply cache; llmrun.py) at each due cycle;
    progress is then reported after every candle."""
    started = time.perf_counter()
    check_replayable(strategy)
    check_schedule(config)
    symbols = config.symbols
    missing = [s for s in symbols if s not in frames or frames[s].empty]
    if missing:
        raise DataError(f"no candles for {', '.join(missing)}")
    llm_run = _is_llm(strategy)
    series = prepare(strategy, frames, symbols)
    lo = max(int(series[s].ts[0]) for s in symbols)
    hi = min(int(series[s].ts[-1]) for s in symbols)
    if lo > hi:
        raise DataError(
            "the symbols' candles do not overlap in time: "
            + "; ".join(
                f"{s} {_utc(int(series[s].ts[0]))} to {_utc(int(series[s].ts[-1]))} UTC"
                for s in symbols
            )
            + "; give candles of one period for every symbol"
        )
    if since_ms is not None:
        lo = max(lo, since_ms)
    last = hi if until_ms is None else min(hi, until_ms - 1)
    opens = np.unique(np.concatenate([series[s].ts for s in symbols]))
    opens = opens[(opens >= lo) & (opens <= last)]
    if len(opens) == 0:
        raise DataError("no candles in the range asked for")
    run: BotRun
    if llm_run:
        from .llmrun import LlmBotRun, LlmReplay, live_indicators  # noqa: PLC0415 - httpx

        run = llm_bot = LlmBotRun(config, strategy, llm or LlmReplay(), cash)  # type: ignore[arg-type]
        specs = strategy.indicators()
        llm_bot.llm.frames = {s: live_indicators(frames[s], specs) for s in symbols}
    else:
        run = BotRun(config, strategy, cash)
    try:
        return _simulate(run, symbols, series, opens, progress, started, 1 if llm_run else 500)
    finally:
        if llm_run:
            llm_bot.llm.close()


def _simulate(
    run: BotRun,
    symbols: Sequence[str],
    series: Mapping[str, _Series],
    opens: np.ndarray[Any, Any],
    progress: Progress | None,
    started: float,
    every: int,
) -> BotRunResult:
    step = run.step_ms
    rows: dict[str, int] = {}
    out_ts: list[int] = []
    out_eq: list[float] = []
    out_held: list[float] = []
    first_close: dict[str, float] = {}
    n = len(opens)
    for k, open_ts in enumerate(opens):
        if progress is not None and k % every == 0:
            progress(k / n)
        t = int(open_ts)
        close_ts = t + step
        due = []
        for s in symbols:
            i = series[s].index.get(t)
            if i is not None:
                r = series[s].ohlcv[i]
                due.append((s, i, Candle(t, *r.tolist())))
        paths = [(s, intra_candle_prices(c)) for s, _, c in due]
        for phase in range(4):
            tick_ts = t + (step * phase) // 4
            for s, prices in paths:
                run.on_tick(s, prices[phase], tick_ts)
        for s, i, c in due:
            run.on_bar(s, c, close_ts)
            rows[s] = i
            first_close.setdefault(s, c.close)
        if len(due) == len(symbols):
            eq = run.sample(close_ts)
            if run.due(close_ts):
                run.cycle(close_ts, rows, series)
                eq = run.portfolio.equity(run.marks)
            out_ts.append(close_ts)
            out_eq.append(float(eq))
            out_held.append(1.0 if run.portfolio.positions else 0.0)
    if progress is not None:
        progress(1.0)
    reports = _reports(run, symbols, series, rows, first_close)
    pf = run.portfolio
    llm = getattr(run, "llm", None)  # an LlmBotRun's (llmrun.py)
    return BotRunResult(
        fills=run.fills,
        symbols=reports,
        ts=np.asarray(out_ts, dtype=np.int64),
        equity=np.asarray(out_eq, dtype=np.float64),
        held=np.asarray(out_held, dtype=np.float64),
        start_cash=pf.start_cash,
        cash=pf.cash,
        final_equity=pf.equity(run.marks),
        decisions=run.decisions,
        rejected=run.rejected,
        halts=sorted(run.halts + (llm.budget_pauses if llm else [])),
        elapsed_s=time.perf_counter() - started,
        llm_points=llm.points if llm else 0,
        llm_missing=llm.missing if llm else [],
        llm_stats=dict(run.strategy.stats) if llm else {},
    )


def _reports(
    run: BotRun,
    symbols: Sequence[str],
    series: Mapping[str, _Series],
    rows: Mapping[str, int],
    first_close: Mapping[str, float],
) -> dict[str, SymbolReport]:
    reports = {s: SymbolReport(s) for s in symbols}
    entries: dict[str, tuple[int, Fill]] = {}
    for f in run.fills:
        rep = reports[f.symbol]
        rep.fees += f.fee
        bar = _bar_of(series[f.symbol].ts, f.ts)
        if f.side is Side.BUY:
            entries[f.symbol] = (bar, f)
            continue
        e_bar, e = entries.pop(f.symbol)
        pnl = f.qty * (f.price - e.price) - e.fee - f.fee
        reason = "signal" if f.reason is OrderReason.EXIT else f.reason.value
        rep.trades.append(
            Trade(e.ts, f.ts, e_bar, bar, e.price, f.price, f.qty, pnl, e.fee + f.fee, reason)
        )
    for s in symbols:
        rep = reports[s]
        rep.first_close = first_close.get(s, 0.0)
        rep.last_close = float(series[s].ohlcv[rows[s], 3]) if s in rows else 0.0
        pos = run.portfolio.position(s)
        if pos is not None:
            rep.open_qty = pos.qty
            rep.unrealised = pos.unrealised(run.marks.get(s, pos.avg_entry))
    return reports


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def _bar_of(ts: Times, fill_ts: int) -> int:
    """The row of the candle a fill happened in (a close belongs to the candle it closes)."""
    return max(0, int(np.searchsorted(ts, fill_ts, side="left")) - 1)
