"""The public strategy API, version 1: everything a strategy file needs, from one module.

Import it as ``from oxbot.engine.strategies import ...`` (this package re-exports every name
below). A strategy is a subclass of `Strategy` that defines:

- ``name``: the name users type (``oxbot bots add --strategy NAME``); a lowercase identifier,
  unique: a name already taken by a built-in is refused.
- ``Params``: a `StrategyParams` subclass (pydantic) whose fields all have defaults; give each
  a range with ``Field(default, ge=..., le=...)`` and a ``description``: forms, the CLI and
  sweeps read them. Params are frozen and unknown keys are refused.
- ``indicators(self)``: the `IndicatorSpec` list ``signals`` reads, built from ``self.params``
  with the helpers below (``SMA(n)`` adds the column ``sma_<n>``; see `INDICATOR_COLUMNS`).
- ``signals(self, frame)``: vectorised, per row of ``frame`` (columns ts, open, high, low,
  close, volume and the indicator columns): ENTER (1), EXIT (-1) or NONE (0), decided at that
  row's close, as an int8 numpy array of ``len(frame)``. A row may only use rows before it:
  backtests call it once over the whole history, live trading calls it on a window and reads
  the last row, and ``oxbot strategies check`` compares the two to catch look-ahead.

Optional: ``warmup(self)`` (bars before the first signal; default: the longest indicator + 1),
``explain(self, frame, signal)`` (one line for the reasoning panel about the last row),
``description`` (one line for ``oxbot strategies list``).

Optional, for speed (added in version 1, nothing breaks without them): ``signal(self, view)``,
the signal at the newest candle only, read from a `MarketView` (``view.last("sma_20")``, the
newest value; ``view.last(col, 1)``, the one before; ``view.tail(col, k)``, the last k values;
``view.frame()``, the whole window as a frame, built once per candle and shared). Live trading
calls it at every candle close; by default it is the last row of ``signals(view.frame())``. It
must give what ``signals`` gives over the whole history at that row (``cross_at`` is
``cross_signals`` at one row); a rule with state (a trailing stop) keeps it across candles
(``view.key`` names the stream, ``view.seq`` numbers its candles: rebuild the state from the
window when a view does not follow the previous one). ``reason(self, view, signal)`` is
``explain`` from a view (default: ``explain(view.frame(), signal)``); `FrameView` wraps a frame
as a view, so both can share one implementation.

The contract: ``API_VERSION`` is 1. A strategy written against version 1, using only the names
in ``__all__`` here, keeps loading in later oxbot versions; a change that would break it comes
as version 2 with version 1 still accepted. A strategy may set ``api_version = 1`` to say which
version it was written for; a file asking for a newer version than this oxbot knows is refused.

Strategy files are the user's own Python code and run with the user's rights, like Freqtrade's
strategies: oxbot loads them only from ``<config>/strategies/*.py`` and from installed
packages (entry-point group ``oxbot.strategies``), never from the database or the network.
"""

from __future__ import annotations

from ..market.indicators import IndicatorSpec
from ..market.view import FrameView, MarketView
from .base import (
    ENTER,
    EXIT,
    NONE,
    DecisionContext,
    Strategy,
    StrategyParams,
    cross_at,
    cross_signals,
)

API_VERSION = 1
ENTRY_POINT_GROUP = "oxbot.strategies"

# Which columns each indicator adds to the frame (<n> is the spec's length).
INDICATOR_COLUMNS = {
    "sma": "sma_<n>",
    "ema": "ema_<n>",
    "rsi": "rsi_<n>",
    "atr": "atr_<n>",
    "adx": "adx_<n>",
    "bbands": "bb_lower_<n>, bb_mid_<n>, bb_upper_<n> (2 standard deviations)",
    "macd": "macd, macd_signal, macd_hist (12/26/9)",
    "stoch": "stoch_k, stoch_d (14/3/3)",
    "obv": "obv",
}


def SMA(length: int) -> IndicatorSpec:  # noqa: N802 - reads like the indicator's name
    """Simple moving average of close: column ``sma_<length>``."""
    return IndicatorSpec("sma", length)


def EMA(length: int) -> IndicatorSpec:  # noqa: N802
    """Exponential moving average of close: column ``ema_<length>``."""
    return IndicatorSpec("ema", length)


def RSI(length: int = 14) -> IndicatorSpec:  # noqa: N802
    """Relative strength index (0-100): column ``rsi_<length>``."""
    return IndicatorSpec("rsi", length)


def ATR(length: int = 14) -> IndicatorSpec:  # noqa: N802
    """Average true range (price units): column ``atr_<length>``."""
    return IndicatorSpec("atr", length)


def ADX(length: int = 14) -> IndicatorSpec:  # noqa: N802
    """Average directional index: column ``adx_<length>``."""
    return IndicatorSpec("adx", length)


def BBANDS(length: int = 20) -> IndicatorSpec:  # noqa: N802
    """Bollinger bands, 2 standard deviations: ``bb_lower_<n>``, ``bb_mid_<n>``,
    ``bb_upper_<n>``."""
    return IndicatorSpec("bbands", length)


def MACD() -> IndicatorSpec:  # noqa: N802
    """MACD 12/26/9: ``macd``, ``macd_signal``, ``macd_hist``."""
    return IndicatorSpec("macd", 0)


def STOCH() -> IndicatorSpec:  # noqa: N802
    """Stochastic 14/3/3: ``stoch_k``, ``stoch_d``."""
    return IndicatorSpec("stoch", 0)


def OBV() -> IndicatorSpec:  # noqa: N802
    """On-balance volume: ``obv``."""
    return IndicatorSpec("obv", 0)


__all__ = [
    "ADX",
    "API_VERSION",
    "ATR",
    "BBANDS",
    "EMA",
    "ENTER",
    "ENTRY_POINT_GROUP",
    "EXIT",
    "INDICATOR_COLUMNS",
    "MACD",
    "NONE",
    "OBV",
    "RSI",
    "SMA",
    "STOCH",
    "DecisionContext",
    "FrameView",
    "IndicatorSpec",
    "MarketView",
    "Strategy",
    "StrategyParams",
    "cross_at",
    "cross_signals",
]
