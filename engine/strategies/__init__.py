"""Strategies: the public API for writing one (version 1, documented in `.sdk`), the registry
that maps the names users type to classes with typed, validated parameters, and the loader of
the user's own strategy files and packages (`.loader`).

Write a strategy against the names of ``sdk.__all__``, all re-exported here::

    from oxbot.engine.strategies import ENTER, EXIT, SMA, Strategy, StrategyParams
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

from pydantic import ValidationError

from ..errors import ConfigError
from .base import DecisionContext, Strategy, StrategyParams
from .checks import CheckReport, check_strategy, generated_candles
from .examples import BbRsiReversion, EmaAtrTrend
from .loader import StrategyLoadError, load_file
from .rules import RsiReversion, SmaCross
from .sdk import (
    ADX,
    API_VERSION,
    ATR,
    BBANDS,
    EMA,
    ENTER,
    ENTRY_POINT_GROUP,
    EXIT,
    INDICATOR_COLUMNS,
    MACD,
    NONE,
    OBV,
    RSI,
    SMA,
    STOCH,
    FrameView,
    IndicatorSpec,
    MarketView,
    cross_at,
    cross_signals,
)


class StrategyRegistry(MutableMapping[str, type[Strategy]]):
    """Strategy name -> class. A lazy entry (name -> loader) is imported on its first lookup:
    listing names loads nothing, so an sma_cross backtest never loads the LLM stack."""

    def __init__(self, classes: dict[str, type[Strategy]]) -> None:
        self._classes = dict(classes)
        self._lazy: dict[str, Callable[[], type[Strategy]]] = {}

    def add_lazy(self, name: str, load: Callable[[], type[Strategy]]) -> None:
        self._lazy[name] = load

    def __getitem__(self, name: str) -> type[Strategy]:
        if name not in self._classes and name in self._lazy:
            self._classes[name] = self._lazy.pop(name)()
        return self._classes[name]

    def __setitem__(self, name: str, cls: type[Strategy]) -> None:
        self._lazy.pop(name, None)
        self._classes[name] = cls

    def __delitem__(self, name: str) -> None:
        if self._lazy.pop(name, None) is None:
            del self._classes[name]

    def __iter__(self) -> Iterator[str]:
        return iter([*self._classes, *self._lazy])

    def __len__(self) -> int:
        return len(self._classes) + len(self._lazy)

    def __contains__(self, name: object) -> bool:
        return name in self._classes or name in self._lazy


REGISTRY = StrategyRegistry(
    {cls.name: cls for cls in (SmaCross, RsiReversion, EmaAtrTrend, BbRsiReversion)}
)


def register(cls: type[Strategy]) -> type[Strategy]:
    REGISTRY[cls.name] = cls
    return cls


def strategy_class(name: str) -> type[Strategy]:
    try:
        return REGISTRY[name]
    except KeyError:
        pass
    from .loader import FAILURES, failure_for  # noqa: PLC0415

    failed = failure_for(name)
    if failed is not None:
        raise ConfigError(f"strategy {name!r} did not load: {failed.message}")
    text = f"unknown strategy {name!r}; choose one of: {', '.join(sorted(REGISTRY))}"
    if FAILURES:
        text += "; these strategy files did not load: " + "; ".join(
            f.message for f in FAILURES.values()
        )
    raise ConfigError(text)


def build_strategy(name: str, params: dict[str, Any] | None = None) -> Strategy:
    """Validate ``params`` against the strategy's model; ConfigError names the bad field."""
    cls = strategy_class(name)
    try:
        p = cls.Params(**(params or {}))
    except ValidationError as e:
        raise ConfigError(f"strategy {name}: {format_validation_error(e)}") from None
    return cls(p)


def format_validation_error(e: ValidationError) -> str:
    parts = []
    for err in e.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "value"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown parameter"
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


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
    "REGISTRY",
    "RSI",
    "SMA",
    "STOCH",
    "CheckReport",
    "DecisionContext",
    "FrameView",
    "IndicatorSpec",
    "MarketView",
    "Strategy",
    "StrategyParams",
    "StrategyLoadError",
    "StrategyRegistry",
    "build_strategy",
    "check_strategy",
    "cross_at",
    "cross_signals",
    "format_validation_error",
    "generated_candles",
    "load_file",
    "register",
    "strategy_class",
]


def _load_llm() -> type[Strategy]:
    # Imported on first lookup only: oxbot.engine.llm (httpx, providers) imports this package.
    from ..llm.strategy import LLMStrategy  # noqa: PLC0415

    return LLMStrategy


REGISTRY.add_lazy("llm", _load_llm)
