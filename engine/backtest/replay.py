"""Decision replay: a bot's STORED decisions run again through a fresh RiskManager and
PaperBroker over the candles the bot traded (`oxbot replay`, app/replay.py). No model is asked.

The candles come from the bot's market data as a bot backtest reads it (a --csv file or the
candle cache), and drive the same steps as engine/backtest/botrun.py (itself proven equal to
the live engine): at each candle close the intra-candle ticks and the bar (SL/TP and time exits
at the levels or the gap price), an equity sample for the kill switches, then, instead of the
strategy, every stored decision made at or before that close, in time order. A decision fills at
the close of the candle it was made on: the mark the live bot's broker filled at (engine/bot.py
``_execute``: ``self.marks[symbol]``, the newest close at a cycle). So with the stored limits
and costs the replay gives the stored fills; with other limits, the stops between decisions are
modelled from the same candles.

What a stored decision carries: its action per symbol (``actions``, after any hold the engine
imposed), and for an LLM decision the model's size, stop-loss and take-profit (``parsed``);
a rule's buys size at the limit as they did live. A stop above (a target below) the price of
a buy is dropped as engine/llm/decision.py ``to_decision`` drops it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
import pandas as pd

from ..arrays import Signals
from ..errors import DataError
from ..models import (
    ZERO,
    Action,
    BotConfig,
    CapitalFlow,
    Decision,
    DecisionRecord,
    Fill,
    RiskState,
    SymbolDecision,
)
from ..portfolio import Portfolio
from ..strategies.base import Strategy
from .botrun import BotRun, BotRunResult, _Series, _simulate

# Stored decisions that are not a bot's own call: the engine's time exits ("risk"); the
# candles replay those (and SL/TP) themselves.
NOT_REPLAYED_SOURCES = frozenset({"risk", "capital"})  # a capital edit is replayed as its flow


@dataclass(frozen=True)
class VerdictPair:
    """One stored decision: its verdict as stored and as replayed ("" for a hold). ``status``
    is "not replayed" when no candle of every symbol closed at or after it in the range."""

    ts: int
    source: str
    actions: str
    stored_status: str
    stored_reasons: str
    status: str = "not replayed"
    reasons: str = ""

    @property
    def same(self) -> bool:
        return self.stored_status == self.status and self.stored_reasons == self.reasons


@dataclass
class ReplayResult:
    run: BotRunResult
    verdicts: list[VerdictPair] = field(default_factory=list)
    deposits: Decimal = ZERO  # the capital flows replayed in the range (net)


class _Stored(Strategy):
    """No signals of its own: the decisions are the stored ones."""

    name = "stored"

    def warmup(self) -> int:
        return 0

    def signals(self, frame: pd.DataFrame) -> Signals:
        return np.zeros(len(frame), dtype=np.int8)


def _dec(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        out = Decimal(str(value))
    except InvalidOperation:
        return None
    return out if out.is_finite() else None


def model_calls(parsed: str) -> dict[str, Mapping[str, Any]]:
    """symbol -> the model's call in a stored ``parsed`` reply (empty for a rule, a failure)."""
    try:
        data = json.loads(parsed) if parsed else None
    except ValueError:
        return {}
    calls = data.get("decisions") if isinstance(data, dict) else None
    if not isinstance(calls, list):
        return {}
    return {
        c["symbol"]: c for c in calls if isinstance(c, dict) and isinstance(c.get("symbol"), str)
    }


def stored_items(
    record: DecisionRecord, prices: Mapping[str, Decimal]
) -> tuple[SymbolDecision, ...]:
    """The decision's items rebuilt from the record: ``SYM:action`` tokens, the model's size
    and stops for a buy. ValueError for an action that is not one (a corrupt record)."""
    calls = model_calls(record.parsed)
    items = []
    for token in record.actions.split():
        sym, _, act = token.rpartition(":")
        action = Action(act)
        call = calls.get(sym, {})
        if action is not Action.BUY or not call:
            items.append(SymbolDecision(sym, action))
            continue
        price = prices.get(sym)
        sl, tp = _dec(call.get("stop_loss")), _dec(call.get("take_profit"))
        if price is not None and sl is not None and sl >= price:
            sl = None
        if price is not None and tp is not None and tp <= price:
            tp = None
        items.append(SymbolDecision(sym, action, _dec(call.get("size_pct")), sl, tp))
    return tuple(items)


class ReplayRun(BotRun):
    """BotRun whose cycle applies the stored decisions due at a close instead of signals."""

    def __init__(
        self,
        config: BotConfig,
        records: Sequence[DecisionRecord],
        portfolio: Portfolio | None = None,
        flows: Sequence[CapitalFlow] = (),
    ) -> None:
        super().__init__(config, _Stored())
        if portfolio is not None:
            self.portfolio = portfolio
        self.pending = sorted(records, key=lambda r: r.ts)[::-1]  # oldest last: pop()
        self.flows = sorted(flows, key=lambda f: f.ts)[::-1]
        self.verdicts: list[VerdictPair] = []
        self.deposits = ZERO  # the flows replayed (net)

    def due(self, ts: int) -> bool:
        return (bool(self.pending) and self.pending[-1].ts <= ts) or (
            bool(self.flows) and self.flows[-1].ts <= ts
        )

    def cycle(self, ts: int, rows: Mapping[str, int], series: Mapping[str, _Series]) -> None:
        self.last_cycle_ts = ts
        # A flow made between two closes counts for the next close's decisions; one stamped
        # with this close came after its decisions (the engine handles a command between
        # candles, the clock then at the close it has handled).
        while self.flows and self.flows[-1].ts < ts:
            self._flow(self.flows.pop())
        while self.pending and self.pending[-1].ts <= ts:
            self._apply(self.pending.pop(), ts)
        while self.flows and self.flows[-1].ts == ts:
            self._flow(self.flows.pop())

    def _flow(self, flow: CapitalFlow) -> None:
        """A deposit or withdrawal when the live bot had it: the cash moves, the kill switches'
        references scale with the wallet (engine/engine.py UpdateBot), never a gain or loss."""
        equity = self.portfolio.equity(self.marks)
        self.portfolio.cash += flow.amount
        self.portfolio.deposits += flow.amount
        self.deposits += flow.amount
        self.risk.restore(self.risk.state().after_flow(equity, flow.amount))

    def _apply(self, record: DecisionRecord, ts: int) -> None:
        items = stored_items(record, self.marks)
        decision = Decision(self.config.name, ts, items, source=record.source)
        status = reasons = ""
        if not decision.is_hold:
            verdict = self.act(decision, ts)
            status, reasons = verdict.status.value, "; ".join(verdict.reasons)
        self.verdicts.append(_pair(record, status, reasons))


def _pair(record: DecisionRecord, status: str = "not replayed", reasons: str = "") -> VerdictPair:
    return VerdictPair(
        record.ts,
        record.source,
        record.actions,
        record.verdict,
        record.verdict_reasons,
        status,
        reasons,
    )


def replay(
    config: BotConfig,
    frames: Mapping[str, pd.DataFrame],
    records: Sequence[DecisionRecord],
    since_ms: int,
    until_ms: int,
    portfolio: Portfolio | None = None,
    prior: Sequence[Fill] = (),
    memory: RiskState | None = None,
    flows: Sequence[CapitalFlow] = (),
) -> ReplayResult:
    """Run ``records`` (the bot's stored decisions) over the candles of ``frames`` opening in
    [since_ms, until_ms), from ``portfolio`` (default: the bot's capital, flat), which
    ``prior`` (the fills before) gave, the kill switches remembering ``memory``. The
    result's fills are the replay's own. DataError when a symbol has no candles in the range."""
    started = time.perf_counter()
    symbols = config.symbols
    series = {}
    for sym in symbols:
        frame = frames.get(sym)
        if frame is None or frame.empty:
            raise DataError(f"no candles for {sym}")
        ts = frame["ts"].to_numpy(np.int64)
        ohlcv = frame[["open", "high", "low", "close", "volume"]].to_numpy(np.float64)
        zeros = np.zeros(len(ts), dtype=np.int8)
        series[sym] = _Series(ts, ohlcv, zeros, {int(t): i for i, t in enumerate(ts)})
    opens = np.unique(np.concatenate([series[s].ts for s in symbols]))
    opens = opens[(opens >= since_ms) & (opens < until_ms)]
    if len(opens) == 0:
        raise DataError(f"no candles of {', '.join(symbols)} in the range of the decisions")
    wanted = [r for r in records if r.source not in NOT_REPLAYED_SOURCES]
    run = ReplayRun(config, wanted, portfolio, flows)
    run.risk.restore(memory)
    run.fills = [f for f in prior if f.symbol in symbols]  # the trade reports pair exits with them
    n_prior = len(run.fills)
    result = _simulate(run, symbols, series, opens, None, started, len(opens) + 1)
    result.fills = result.fills[n_prior:]
    verdicts = run.verdicts + [_pair(r) for r in reversed(run.pending)]
    return ReplayResult(result, verdicts, run.deposits)


__all__ = ["ReplayResult", "ReplayRun", "VerdictPair", "replay", "stored_items"]
