"""The user's strategies, loaded where the settings say: ``<config>/strategies/*.py`` and the
installed ``oxbot.strategies`` entry points. Call before resolving a strategy name; cheap when
nothing changed (files are reloaded only when edited)."""

from __future__ import annotations

from typing import Any


def load_user_strategies() -> None:
    """Load or reload the user's strategy files and entry points into the registry. A broken
    file never raises here: its error (file:line) is what asking for its strategy says."""
    from oxbot.engine.strategies.loader import discover  # noqa: PLC0415
    from oxbot.storage.paths import strategies_dir  # noqa: PLC0415

    discover(strategies_dir())


def load_user_strategies_for(name: str) -> None:
    """`load_user_strategies` unless ``name`` is a built-in: a strategy file runs at import,
    and one that never returns must not hang a backtest of a built-in."""
    if name not in BUILT_IN:
        load_user_strategies()


def skipped_file_hint(name: str) -> str:
    """Why a strategy file of the user's named ``name`` is not loaded ("" when there is none
    or it is not skipped): files named ``test_*.py`` or ``_*.py`` are tests and helpers."""
    from oxbot.storage.paths import strategies_dir  # noqa: PLC0415

    path = strategies_dir() / f"{name}.py"
    if not name.startswith(("test_", "_")) or not path.is_file():
        return ""
    return (
        f"; {path} is not loaded: files named test_*.py or _*.py are tests and helpers, not "
        "strategies; rename the file and the strategy's name (name = ...)"
    )


# The built-in strategies' names, known without importing the registry (pandas): `bots list`
# stays light. tests/e2e/test_e2e_strategy_errors.py checks it against the registry.
BUILT_IN = frozenset({"sma_cross", "rsi_reversion", "ema_atr_trend", "bb_rsi_reversion", "llm"})


def strategy_problem(name: str, params: dict[str, Any]) -> str:
    """ "" when a bot's strategy loads and its parameters validate, else why not (the loader's
    message, with file:line). Built-ins are not built (the LLM stack stays unloaded)."""
    if name in BUILT_IN:
        return ""
    from oxbot.engine.errors import ConfigError  # noqa: PLC0415

    load_user_strategies()
    try:
        build_checked(name, params)
    except ConfigError as e:
        return str(e)
    return ""


def build_checked(name: str, params: dict[str, Any] | None = None) -> Any:
    """`build_strategy`, and for a user's strategy its indicators and warm-up built once
    (`checks.check_setup`): ConfigError ``strategy NAME: file:line: Error: text`` when its code
    raises for these parameters, so a bot that could never start is refused when it is added
    and shown in error (not a traceback) when a stored one is loaded. Built-ins are trusted."""
    from oxbot.engine.errors import ConfigError, StrategyError  # noqa: PLC0415
    from oxbot.engine.strategies import build_strategy  # noqa: PLC0415
    from oxbot.engine.strategies.checks import check_setup  # noqa: PLC0415

    strategy = build_strategy(name, params)
    if name not in BUILT_IN:
        try:
            check_setup(strategy)
        except StrategyError as e:
            raise ConfigError(f"strategy {name}: {e}") from None
    return strategy


def param_range(info: Any) -> str:
    """A parameter's bounds from its schema (pydantic Field ge/gt/le/lt): "2 to 50",
    "at least 1", "above 0 to below 100"; "" without bounds."""
    low = high = ""
    for m in info.metadata:
        if getattr(m, "ge", None) is not None:
            low = str(m.ge)
        if getattr(m, "gt", None) is not None:
            low = f"above {m.gt}"
        if getattr(m, "le", None) is not None:
            high = str(m.le)
        if getattr(m, "lt", None) is not None:
            high = f"below {m.lt}"
    if low and high:
        return f"{low} to {high}"
    if low:
        return low if low.startswith("above") else f"at least {low}"
    if high:
        return high if high.startswith("below") else f"at most {high}"
    return ""


def with_ranges(message: str, params_cls: Any) -> str:
    """A parameter validation message (``fast: Input should be ...; slow: ...``) with each
    named field's range: ``fast: Input should be less than or equal to 50 (range 2 to 50)``."""
    fields = params_cls.model_fields
    parts = []
    for part in message.split("; "):
        name = next((t for t in part.split(": ")[:-1] if t in fields), None)
        bounds = param_range(fields[name]) if name is not None else ""
        parts.append(f"{part} (range {bounds})" if bounds else part)
    return "; ".join(parts)
