"""Strategy registry: names users type map to classes with typed, validated parameters."""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

from pydantic import ValidationError

from ..errors import ConfigError
from .base import DecisionContext, Strategy, StrategyParams
from .rules import RsiReversion, SmaCross


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


REGISTRY = StrategyRegistry({cls.name: cls for cls in (SmaCross, RsiReversion)})


def register(cls: type[Strategy]) -> type[Strategy]:
    REGISTRY[cls.name] = cls
    return cls


def strategy_class(name: str) -> type[Strategy]:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"unknown strategy {name!r}; choose one of: {', '.join(sorted(REGISTRY))}"
        ) from None


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
    "DecisionContext",
    "Strategy",
    "StrategyParams",
    "REGISTRY",
    "StrategyRegistry",
    "build_strategy",
    "strategy_class",
    "register",
    "format_validation_error",
]


def _load_llm() -> type[Strategy]:
    # Imported on first lookup only: oxbot.engine.llm (httpx, providers) imports this package.
    from ..llm.strategy import LLMStrategy  # noqa: PLC0415

    return LLMStrategy


REGISTRY.add_lazy("llm", _load_llm)
