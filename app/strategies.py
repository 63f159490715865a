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


# The built-in strategies' names, known without importing the registry (pandas): `bots list`
# stays light. tests/e2e/test_e2e_strategy_errors.py checks it against the registry.
BUILT_IN = frozenset({"sma_cross", "rsi_reversion", "ema_atr_trend", "bb_rsi_reversion", "llm"})


def strategy_problem(name: str, params: dict[str, Any]) -> str:
    """ "" when a bot's strategy loads and its parameters validate, else why not (the loader's
    message, with file:line). Built-ins are not built (the LLM stack stays unloaded)."""
    if name in BUILT_IN:
        return ""
    from oxbot.engine.errors import ConfigError  # noqa: PLC0415
    from oxbot.engine.strategies import build_strategy  # noqa: PLC0415

    load_user_strategies()
    try:
        build_strategy(name, params)
    except ConfigError as e:
        return str(e)
    return ""
