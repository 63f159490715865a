"""The Strategy interface: one vectorised `signals(frame)` that backtests use whole, and
`signal(view)`, the same rule for the newest candle only, which live trading calls per candle.

``signal`` defaults to the last row of ``signals(view.frame())``, so a strategy that defines only
``signals`` trades live unchanged (the frame is built once per candle for all its readers); the
built-ins define ``signal`` on the newest values, sharing their rule with ``signals``. Likewise
``reason(view, signal)`` defaults to ``explain(view.frame(), signal)``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from ..arrays import Floats, Signals
from ..market.indicators import IndicatorSpec
from ..market.view import FrameView, MarketView
from ..market.window import bars_needed
from ..models import Action, BotConfig, Decision, DecisionRecord, Position, SymbolDecision

if TYPE_CHECKING:  # engine/messages.py builds ~120 dataclasses: not for a backtest
    import numpy as np
    import pandas as pd

    from ..messages import LlmFigures
else:  # numpy on its first use (engine/lazy.py): loading a strategy computes nothing
    from oxbot.engine.lazy import numpy as np

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
    # symbol -> the same window as a MarketView (newest values without a DataFrame); live
    # bots set it, and ``frames`` then builds a frame only when one is read
    views: Mapping[str, MarketView] = field(default_factory=dict)


class Strategy(ABC):
    """Base of every strategy. Subclasses set ``name``, ``Params`` and implement ``signals``."""

    name: ClassVar[str]
    Params: ClassVar[type[StrategyParams]] = StrategyParams
    description: ClassVar[str] = ""
    # True (set on the class itself, not inherited: engine/backtest/runner.py ``columnar``) when
    # ``signals(frame)`` reads only ``frame[col].to_numpy(...)`` and ``len(frame)``: a backtest
    # may then hand it numpy columns (engine/market/columns.py) and never import pandas.
    columnar: ClassVar[bool] = False

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

    def signal(self, view: MarketView) -> int:
        """ENTER, EXIT or NONE at the newest candle of ``view`` (live trading, per candle): the
        last row of ``signals``. Override it to skip building a frame per candle; it must give
        what ``signals`` gives over the whole history at that row."""
        from .checks import checked_signals  # noqa: PLC0415 - checks imports this module

        frame = self._live_frame(view)
        return int(checked_signals(self, self.signals(frame), len(frame))[-1])

    def _live_frame(self, view: MarketView) -> pd.DataFrame:
        """The frame live trading hands ``signals``/``explain``: the newest ``bars_needed``
        rows (the strategy's warm-up, at least WINDOW), whatever longer window another bot on
        the stream made the view keep, so a strategy reads the same live alone or not."""
        frame = view.frame()
        n = bars_needed(self)
        if len(frame) > n:
            frame = frame.iloc[-n:].reset_index(drop=True)
        return frame

    def explain(self, frame: pd.DataFrame, signal: int) -> str:
        """One line of reasoning for the last bar of ``frame``."""
        return ""

    def reason(self, view: MarketView, signal: int) -> str:
        """One line of reasoning for the newest candle of ``view``: ``explain`` on its frame
        when the strategy defines one (override it to read the view directly)."""
        if type(self).explain is Strategy.explain:
            return ""
        return self.explain(self._live_frame(view), signal)

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
        return self.rule_decision(
            ctx.bot, ctx.ts, ctx.config.symbols, ctx.views, ctx.frames, ctx.positions.__contains__
        )

    @property
    def decides_by_rule(self) -> bool:
        """True when this strategy decides by ``signal`` alone (neither ``decide`` nor
        ``wants_decision`` overridden): a live bot may then call ``rule_decision`` without
        building a ``DecisionContext``."""
        cls = type(self)
        return cls.decide is Strategy.decide and cls.wants_decision is Strategy.wants_decision

    def rule_decision(
        self,
        bot: str,
        ts: int,
        symbols: Sequence[str],
        views: Mapping[str, MarketView],
        frames: Mapping[str, pd.DataFrame],
        held: Callable[[str], bool],
    ) -> Decision:
        """What ``decide`` answers: per symbol, ``signal`` at the newest candle turned into an
        action; ``held(symbol)`` is asked only when the signal is ENTER or EXIT."""
        calls, text = self.rule_calls(symbols, views, frames, held)
        return rule_decision_of(bot, ts, calls, text)

    def rule_calls(
        self,
        symbols: Sequence[str],
        views: Mapping[str, MarketView],
        frames: Mapping[str, pd.DataFrame],
        held: Callable[[str], bool],
    ) -> tuple[list[tuple[str, Action, str]], str]:
        """``rule_decision``'s calls as (symbol, action, reasoning) and the decision's text,
        without building the decision: a live bot whose rule holds needs only these."""
        calls: list[tuple[str, Action, str]] = []
        texts = []
        warmup = self.warmup()
        for symbol in symbols:
            view = views.get(symbol)
            if view is None:  # a context made of frames only
                frame = frames.get(symbol)
                view = None if frame is None else FrameView(frame)
            if view is None or len(view) < warmup:
                calls.append((symbol, _HOLD, "warming up"))
                continue
            sig = self.signal(view)
            if sig == ENTER and not held(symbol):
                action = Action.BUY
            elif sig == EXIT and held(symbol):
                action = Action.CLOSE
            else:
                action = _HOLD
            why = self.reason(view, sig)
            calls.append((symbol, action, why))
            said = _SAID[action]
            texts.append(f"{symbol}: {said} - {why}" if why else f"{symbol}: {said}")
        text = texts[0] if len(texts) == 1 else "\n".join(texts)
        return calls, text


def rule_decision_of(
    bot: str, ts: int, calls: Sequence[tuple[str, Action, str]], text: str
) -> Decision:
    """The decision of ``rule_calls``' calls and text (``rule_decision``)."""
    items = tuple([SymbolDecision(s, a, None, None, None, None, why) for s, a, why in calls])
    return Decision(bot, ts, items, text, "rule")


# How a rule's reasoning names each action (``action.value.upper()``, looked up once).
_SAID = {a: a.value.upper() for a in Action}
_HOLD = Action.HOLD


def _side(fast: float, slow: float) -> float:
    """The sign of fast - slow as ``cross_signals`` takes it (a 1e-9 relative tie is 0)."""
    d = fast - slow
    if abs(d) <= 1e-9 * abs(slow):
        return 0.0
    return 1.0 if d > 0 else -1.0 if d < 0 else d  # NaN stays NaN


def cross_at(fast0: float, slow0: float, fast1: float, slow1: float) -> int:
    """``cross_signals`` at one row, from the previous (0) and the current (1) values."""
    a, b = _side(fast0, slow0), _side(fast1, slow1)
    if a < 0 and b > 0:
        return ENTER
    if a > 0 and b < 0:
        return EXIT
    return NONE


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
