"""Strategy registry: names users type map to classes with typed, validated parameters."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from ..errors import ConfigError
from .base import DecisionContext, Strategy, StrategyParams
from .rules import RsiReversion, SmaCross

REGISTRY: dict[str, type[Strategy]] = {cls.name: cls for cls in (SmaCross, RsiReversion)}


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
    "build_strategy",
    "strategy_class",
    "register",
    "format_validation_error",
]


def _register_builtin_llm() -> None:
    # At the bottom: oxbot.engine.llm imports this package's base module.
    from ..llm.strategy import LLMStrategy  # noqa: PLC0415

    REGISTRY.setdefault(LLMStrategy.name, LLMStrategy)


_register_builtin_llm()
