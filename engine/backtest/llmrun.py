"""The LLM path of the bot backtest (botrun.py): at each due cycle the live bot's steps for a
strategy that decides itself (engine/bot.py ``BotRunner._cycle`` and ``_act``):

- the context: frames of the last ``bars_needed`` rows ending at the candle that just closed
  (what the hub's window hands a live bot, market/window.py), the tradable positions, cash,
  equity at the closes, and the bot's memory (its last ``MEMORY`` decision records, with the
  SL/TP and time exits the bot made on its own, as ``BotRunner`` keeps them);
- ``wants_decision`` (the trigger cadence), then ``decide``: the same prompt builder, provider,
  reply parsing and validation as live, the provider behind the reply cache (replies.py);
- a decision that is not a hold goes through the RiskManager and the paper broker at the
  close, as the rule path does; every decision becomes a memory record.

``decide`` is async: it runs on one event loop kept for the whole run (one HTTP client, its
connections reused); a cache hit does no I/O. The daily LLM budget counts by simulated day.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import BudgetExceeded
from ..market.indicators import IndicatorSpec
from ..market.kernels import compute_fast
from ..market.window import _Feed, bars_needed
from ..models import (
    BotConfig,
    Decision,
    DecisionRecord,
    OrderReason,
    Position,
    timeframe_seconds,
)
from ..strategies.base import DecisionContext, Strategy
from ..textsafe import storable
from .botrun import BotRun, _Series
from .replies import CachedProvider, ReplyCache, SpendCapReached, Tally, origin_of

if TYPE_CHECKING:
    from ..llm.provider import ChatRequest
    from ..llm.strategy import LLMStrategy

# engine/bot.py MEMORY: the decisions a live bot keeps for its strategy (the LLM's memory).
MEMORY = 20


@dataclass
class LlmReplay:
    """How an LLM backtest reaches its model: through ``cache`` (None: every call goes to the
    model), never calling when ``cache_only``. ``tally`` counts what the calls did;
    ``on_call`` is told after each decision point (progress with the spend)."""

    cache: ReplyCache | None = None
    cache_only: bool = False
    tally: Tally = field(default_factory=Tally)
    on_call: Callable[[Tally], None] | None = None


def is_llm(strategy: Strategy) -> bool:
    if strategy.name != "llm":
        return False
    from ..llm.strategy import LLMStrategy  # noqa: PLC0415 - httpx only for LLM runs

    return isinstance(strategy, LLMStrategy)


def origin_for(strategy: LLMStrategy) -> str:
    """The cache key's origin (replies.py `origin_of`): the bot's base URL unless the
    provider's default, and a request shape other than the defaults."""
    from ..llm.catalog import PROVIDERS  # noqa: PLC0415

    p = strategy.params
    shape = []
    if p.structured != "auto":
        shape.append(f"structured={p.structured}")
    if p.provider == "anthropic" and not p.anthropic_prefill:
        shape.append("prefill=false")
    return origin_of(p.base_url, PROVIDERS[p.provider].base_url, " ".join(shape))


def _utc(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def _sim_day(ts: int) -> date:
    return datetime.fromtimestamp(ts / 1000, UTC).date()


def _actions(decision: Decision) -> str:
    return " ".join(f"{i.symbol}:{i.action.value}" for i in decision.items)


def live_indicators(frame: pd.DataFrame, specs: Sequence[IndicatorSpec]) -> pd.DataFrame:
    """``frame`` with the indicator columns the live hub computes: its O(1) updaters
    (market/window.py ``_Feed``, market/incremental.py) fed every candle from the first, as a
    stream seeded at its first candle is. Equal to the whole-array kernels up to float rounding,
    and equal to live to the last bit: a prompt prints numbers rounded, and a value on a
    rounding edge would otherwise print differently than it did live."""
    rows = frame[["open", "high", "low", "close", "volume"]].to_numpy(np.float64).tolist()
    out = {"ts": frame["ts"].to_numpy(np.int64)}
    for col in ("open", "high", "low", "close", "volume"):
        out[col] = frame[col].to_numpy(np.float64)
    for spec in sorted(set(specs)):
        feed = _Feed(spec)
        values = np.asarray([feed.update(*r) for r in rows], dtype=np.float64)
        for j, col in enumerate(spec.columns):
            out[col] = values[:, j] if len(rows) else np.zeros(0)
    return pd.DataFrame(out)


def context_at(
    config: BotConfig,
    frames: Mapping[str, pd.DataFrame],
    window: int,
    ts: int,
    rows: Mapping[str, int],
    positions: Mapping[str, Position],
    cash: Decimal,
    equity: Decimal,
    memory: Sequence[DecisionRecord] = (),
) -> DecisionContext:
    """What the live bot hands its strategy at the close ``ts``: each symbol's last ``window``
    rows up to ``rows[symbol]`` of its indicator frame (``frames``: the whole history)."""
    return DecisionContext(
        bot=config.name,
        ts=ts,
        config=config,
        frames={
            s: frames[s].iloc[max(0, r + 1 - window) : r + 1].reset_index(drop=True)
            for s, r in rows.items()
        },
        positions=positions,
        cash=cash,
        equity=equity,
        memory=tuple(memory),
    )


class LlmDecider:
    """The LLM half of a bot run: builds each context, asks the strategy, keeps the memory."""

    def __init__(self, config: BotConfig, strategy: LLMStrategy, replay: LlmReplay) -> None:
        self.config = config
        self.strategy = strategy
        self.replay = replay
        self.window = bars_needed(strategy)
        self.memory: deque[DecisionRecord] = deque(maxlen=MEMORY)
        self.frames: dict[str, pd.DataFrame] = {}  # symbol -> indicator frame, whole history
        self.points = 0  # decisions asked of the model (after the cadence and triggers)
        self.missing: list[int] = []  # decision points with no stored reply (--cache-only)
        self._now = 0
        self._paused_day: date | None = None
        self.budget_pauses: list[tuple[int, str]] = []
        strategy.use_day(lambda: _sim_day(self._now))
        cache = replay.cache
        if cache is not None and strategy.params.provider != "offline":
            tally, only = replay.tally, replay.cache_only
            name, price = strategy.params.provider, strategy.price
            origin = origin_for(strategy)
            strategy.provider_wrap = lambda inner: CachedProvider(
                inner,
                cache,
                provider=name,
                price=price,
                tally=tally,
                cache_only=only,
                origin=origin,
            )
        self.loop = asyncio.new_event_loop()

    def context(
        self,
        ts: int,
        rows: Mapping[str, int],
        positions: Mapping[str, Position],
        cash: Decimal,
        equity: Decimal,
    ) -> DecisionContext:
        return context_at(
            self.config, self.frames, self.window, ts, rows, positions, cash, equity, self.memory
        )

    def decide(self, ctx: DecisionContext) -> Decision | None:
        """The strategy's decision at ``ctx.ts``, or None when it does not decide (the trigger
        cadence said no, or the day's budget is spent)."""
        self._now = ctx.ts
        day = _sim_day(ctx.ts)
        if self._paused_day == day:
            return None
        if not self.strategy.wants_decision(ctx):
            return None
        tally = self.replay.tally
        if tally.cap_reached():
            raise self._capped()
        self.points += 1
        tally.missed = False
        failed = self.strategy.stats["failures"]
        try:
            decision = self.loop.run_until_complete(self.strategy.decide(ctx))
        except BudgetExceeded as e:
            self.points -= 1  # refused before any call: not a decision point of the model
            self._paused_day = day
            self.budget_pauses.append((ctx.ts, f"llm budget: {e}"))
            return None
        finally:
            if self.replay.on_call is not None:
                self.replay.on_call(tally)
        if tally.capped:
            raise self._capped()
        if self.strategy.stats["failures"] > failed:
            kind = self.strategy.stats["last_failure_kind"] or "error"
            tally.failure_kinds[kind] = tally.failure_kinds.get(kind, 0) + 1
            tally.last_failure = self.strategy.stats["last_failure"]
        if tally.missed:
            self.missing.append(ctx.ts)
        return decision

    def _capped(self) -> SpendCapReached:
        t = self.replay.tally
        return SpendCapReached(
            f"stopped: the model calls spent ${t.spent:.4f}, reaching --max-cost {t.cap}, "
            f"after {t.calls:,} calls at the decision point of {_utc(self._now)} UTC; every "
            "reply is stored: run again (with a higher --max-cost) to go on from there, the "
            "stored replies cost nothing"
        )

    def remember(self, decision: Decision, verdict: str, reasons: str) -> None:
        """The record the live bot keeps of a decision (engine/bot.py ``_record``: the fields
        the prompt's memory reads)."""
        self.memory.append(
            DecisionRecord(
                bot=decision.bot,
                ts=decision.ts,
                source=decision.source,
                actions=storable(_actions(decision)),
                reasoning=storable(decision.reasoning[:4000]),
                verdict=verdict,
                verdict_reasons=storable(reasons),
                error=storable(decision.meta.get("error", "")),
            )
        )

    def remember_exit(self, symbol: str, reason: OrderReason, price: Decimal, ts: int) -> None:
        """A SL/TP or time exit the bot made on its own (``BotRunner._exit`` keeps these)."""
        if reason in (OrderReason.STOP_LOSS, OrderReason.TAKE_PROFIT, OrderReason.TIME_EXIT):
            self.memory.append(
                DecisionRecord(self.config.name, ts, "risk", f"{symbol}:{reason.value}")
            )

    def close(self) -> None:
        """Cancel a call left running (Ctrl-C), close the HTTP client, then the loop."""
        try:
            pending = asyncio.all_tasks(self.loop)
            for task in pending:
                task.cancel()
            if pending:
                self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.run_until_complete(self.strategy.aclose())
        finally:
            self.loop.close()


class LlmBotRun(BotRun):
    """`BotRun` whose cycle asks the LLM strategy (the rule path's ``cycle`` is not touched)."""

    def __init__(
        self,
        config: BotConfig,
        strategy: LLMStrategy,
        replay: LlmReplay,
        cash: Decimal | None = None,
    ) -> None:
        super().__init__(config, strategy, cash)
        self.llm = LlmDecider(config, strategy, replay)

    def _exit(self, pos: Position, reason: OrderReason, price: Decimal, ts: int) -> None:
        booked = len(self.fills)
        super()._exit(pos, reason, price, ts)
        if len(self.fills) > booked:
            self.llm.remember_exit(pos.symbol, reason, price, ts)

    def cycle(self, ts: int, rows: Mapping[str, int], series: Mapping[str, _Series]) -> None:
        self.last_cycle_ts = ts
        if any(r + 1 < self._warmup for r in rows.values()):
            return
        # in the portfolio's order, as BotRunner.tradable_positions gives them
        positions = {s: p for s in self.portfolio.positions if (p := self._tradable(s)) is not None}
        ctx = self.llm.context(
            ts, rows, positions, self.portfolio.cash, self.portfolio.equity(self.marks)
        )
        decision = self.llm.decide(ctx)
        if decision is None:
            return
        if decision.is_hold:
            self.llm.remember(decision, "", "")
            return
        verdict = self.act(decision, ts)
        self.llm.remember(decision, verdict.status.value, "; ".join(verdict.reasons))


__all__ = ["LlmBotRun", "LlmDecider", "LlmReplay", "is_llm"]


def decision_points(
    config: BotConfig,
    strategy: Strategy,
    frames: Mapping[str, pd.DataFrame],
    since_ms: int | None = None,
    until_ms: int | None = None,
) -> list[int]:
    """The closes at which the run's cycle is due and past the warm-up, as ``run_bot`` walks
    them (every symbol's bar at the close, the cadence): each a model call at most."""
    step = timeframe_seconds(config.timeframe) * 1000
    syms = config.symbols
    ts = {s: frames[s]["ts"].to_numpy(np.int64) for s in syms}
    if any(len(t) == 0 for t in ts.values()):
        return []
    lo = max(int(t[0]) for t in ts.values())
    hi = min(int(t[-1]) for t in ts.values())
    if since_ms is not None:
        lo = max(lo, since_ms)
    last = hi if until_ms is None else min(hi, until_ms - 1)
    index = {s: {int(t): i for i, t in enumerate(ts[s])} for s in syms}
    opens = np.unique(np.concatenate(list(ts.values())))
    warm = strategy.warmup()
    cad = config.cadence_s * 1000
    last_cycle: int | None = None
    out = []
    for t in opens[(opens >= lo) & (opens <= last)]:
        rows = [index[s].get(int(t)) for s in syms]
        if any(r is None for r in rows):
            continue
        close = int(t) + step
        if cad and last_cycle is not None and close - last_cycle < cad:
            continue
        last_cycle = close
        if any(r is not None and r + 1 < warm for r in rows):
            continue
        out.append(close)
    return out


def first_request(
    config: BotConfig,
    strategy: LLMStrategy,
    frames: Mapping[str, pd.DataFrame],
    since_ms: int | None = None,
    until_ms: int | None = None,
) -> ChatRequest | None:
    """The request of the first decision point (no memory, no position yet), built by the live
    prompt builder: what an estimate multiplies; None when there is no decision point."""
    points = decision_points(config, strategy, frames, since_ms, until_ms)
    if not points:
        return None
    step = timeframe_seconds(config.timeframe) * 1000
    full = {s: compute_fast(frames[s], strategy.indicators()) for s in config.symbols}
    rows = {
        s: int(np.searchsorted(frames[s]["ts"].to_numpy(np.int64), points[0] - step))
        for s in config.symbols
    }
    cash = config.capital
    ctx = context_at(config, full, bars_needed(strategy), points[0], rows, {}, cash, cash)
    return strategy.request(ctx, strategy.build(ctx))
