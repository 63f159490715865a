"""The Strategy interface: one vectorised `signals(frame)` that backtests use whole and live
trading reads the last row of, so both paths run the same code.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from ..arrays import Floats, Signals
from ..market.indicators import IndicatorSpec
from ..messages import LlmFigures
from ..models import Action, BotConfig, Decision, DecisionRecord, Position, SymbolDecision

ENTER, EXIT, NONE = 1, -1, 0


class StrategyParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass
class DecisionContext:
    """What a strategy sees at one cycle. Frames end at the candle that just closed."""

    bot: str
    ts: int
    config: BotConfig
    frames: Mapping[str, pd.DataFrame]  # symbol -> window: open..volume + indicator columns
    positions: Mapping[str, Position]
    cash: Decimal
    equity: Decimal
    memory: Sequence[DecisionRecord] = ()
    emit: Callable[[str], None] = field(default=lambda _t: None)  # reasoning chunks, live
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. higher-timeframe frames


class Strategy(ABC):
    """Base of every strategy. Subclasses set ``name``, ``Params`` and implement ``signals``."""

    name: ClassVar[str]
    Params: ClassVar[type[StrategyParams]] = StrategyParams
    description: ClassVar[str] = ""

    def __init__(self, params: StrategyParams | None = None) -> None:
        self.params = params if params is not None else self.Params()
        # What the bots table shows of this strategy (BotView.stats starts as a copy of it):
        # rule strategies show nothing, an LLM strategy its calls, spend and failures.
        self.stats: dict[str, Any] = {}

    def indicators(self) -> list[IndicatorSpec]:
        """Indicator columns `signals` reads; the MarketHub computes them once per stream."""
        return []

    def warmup(self) -> int:
        """Bars needed before the first signal can exist."""
        return max((s.warmup for s in self.indicators()), default=1) + 1

    @abstractmethod
    def signals(self, frame: pd.DataFrame) -> Signals:
        """Per bar: ENTER (1), EXIT (-1) or NONE (0), decided at that bar's close."""

    def explain(self, frame: pd.DataFrame, signal: int) -> str:
        """One line of reasoning for the last bar of ``frame``."""
        return ""

    def wants_decision(self, ctx: DecisionContext) -> bool:
        """Called before `decide` at every cycle; False skips it (trigger-only cadence)."""
        return True

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release clients (an LLM strategy's HTTP client)."""

    def check_setup(self) -> None:  # noqa: B027 - optional hook
        """Raise ConfigError when the strategy cannot work as configured (an LLM budget
        without a price); the engine asks before a bot is added, changed or started."""

    def check_budget(self, bot: str) -> None:  # noqa: B027 - optional hook
        """Raise BudgetExceeded while today's spend is at the daily budget; the bot asks
        before it resumes a budget pause. Rule strategies spend nothing."""

    def restore_history(  # noqa: B027 - optional hook
        self,
        stored: Mapping[str, Any],
        recent: Sequence[DecisionRecord] = (),
    ) -> None:
        """Counts, spend and the last failure from the stored decisions (``stored`` is the
        ledger's ``decision_stats``, ``recent`` the newest records), so a restart or an edit
        goes on where the bot was. Rule strategies keep nothing."""

    def llm_figures(self) -> LlmFigures | None:
        """What the strategy's model calls cost and how often they failed, for the bot's
        view; None for a strategy that calls no model."""
        return None

    async def decide(self, ctx: DecisionContext) -> Decision:
        items = []
        texts = []
        for symbol in ctx.config.symbols:
            frame = ctx.frames.get(symbol)
            if frame is None or len(frame) < self.warmup():
                items.append(SymbolDecision(symbol, Action.HOLD, reasoning="warming up"))
                continue
            sig = int(self.signals(frame)[-1])
            held = symbol in ctx.positions
            if sig == ENTER and not held:
                action = Action.BUY
            elif sig == EXIT and held:
                action = Action.CLOSE
            else:
                action = Action.HOLD
            why = self.explain(frame, sig)
            items.append(SymbolDecision(symbol, action, reasoning=why))
            texts.append(
                f"{symbol}: {action.value.upper()} - {why}"
                if why
                else f"{symbol}: {action.value.upper()}"
            )
        text = "\n".join(texts)
        return Decision(ctx.bot, ctx.ts, tuple(items), reasoning=text, source="rule")


def cross_signals(fast: Floats, slow: Floats) -> Signals:
    """ENTER where fast crosses strictly above slow, EXIT where strictly below (NaN = no signal).

    Rolling means carry ~1e-12 of float noise, so values equal to 1e-9 relative are a tie, and a
    tie never counts as a cross (the reference tools' strict rule)."""
    out = np.zeros(len(fast), dtype=np.int8)
    if len(fast) < 2:
        return out
    with np.errstate(invalid="ignore"):
        d = fast - slow
        d[np.abs(d) <= 1e-9 * np.abs(slow)] = 0.0
        side = np.sign(d)
    out[1:][(side[:-1] < 0) & (side[1:] > 0)] = ENTER
    out[1:][(side[:-1] > 0) & (side[1:] < 0)] = EXIT
    return out
