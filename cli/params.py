"""Command-line values checked the way the user typed them: ``--param KEY=VALUE`` coerced by the
strategy's own pydantic model, and validation errors that name flags, not model fields.

Import-cheap: pydantic and the strategies load inside the functions.
"""

from __future__ import annotations

import json
import typing
from typing import Any

# BotConfig field (pydantic location) -> the flag of `oxbot bots add` that sets it.
FIELD_FLAGS = {
    "fee_rate": "--fee",
    "cadence_s": "--cadence",
    "capital": "--capital",
    "symbols": "--symbols",
    "timeframe": "--timeframe",
    "exchange": "--exchange",
    "strategy": "--strategy",
    "slippage_bps": "--slippage-bps",
    "name": "NAME",
    "risk.max_position_pct": "--max-position-pct",
    "max_position_pct": "--max-position-pct",
    "risk.max_exposure_pct": "--max-exposure-pct",
    "max_exposure_pct": "--max-exposure-pct",
    "risk.stop_loss_pct": "--stop-loss-pct",
    "stop_loss_pct": "--stop-loss-pct",
    "risk.take_profit_pct": "--take-profit-pct",
    "risk.max_hold_s": "--max-hold",
    "max_hold_s": "--max-hold",
    "take_profit_pct": "--take-profit-pct",
    "on_stop": "--on-stop",
    "cron": "--cron",
    "retry_attempts": "--retry-attempts",
    "retry_delay_s": "--retry-delay",
}
# Field-specific hints: what the number means, so "less than 0.1" is not a riddle.
HINTS = {"fee_rate": "a rate per fill, e.g. 0.001 for 0.1 % or 0.005 for 0.5 %"}


def split_params(items: list[str]) -> dict[str, str]:
    """``["fast=10"]`` → ``{"fast": "10"}``; UsageError for an item without ``=``."""
    from oxbot.engine.errors import UsageError  # noqa: PLC0415

    out: dict[str, str] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--param {item!r} must look like KEY=VALUE, e.g. --param fast=10")
        out[key.strip()] = raw.strip()
    return out


def _wants_json(annotation: Any) -> bool:
    import types  # noqa: PLC0415

    origin = typing.get_origin(annotation) or annotation
    if origin in (typing.Union, types.UnionType):
        return any(_wants_json(a) for a in typing.get_args(annotation))
    return origin in (dict, list, tuple, set, frozenset)


def strategy_params(strategy: str, items: list[str]) -> dict[str, Any]:
    """The ``--param`` values as the strategy's Params model reads them: raw strings (pydantic
    coerces "10" to 10 for an int field and refuses "ten"), JSON for dict/list fields. Returns
    the explicitly given parameters, validated, JSON-ready. ConfigError names the bad one."""
    from oxbot.app.strategies import load_user_strategies_for  # noqa: PLC0415
    from oxbot.engine.errors import ConfigError  # noqa: PLC0415
    from oxbot.engine.strategies import strategy_class  # noqa: PLC0415

    load_user_strategies_for(strategy)  # the user's own files and packages, unless a built-in
    raw = split_params(items)
    cls = strategy_class(strategy)
    fields = cls.Params.model_fields
    values: dict[str, Any] = {}
    for key, text in raw.items():
        field = fields.get(key)
        if field is not None and _wants_json(field.annotation):
            try:
                values[key] = json.loads(text)
            except ValueError:
                raise ConfigError(
                    f"--param {key}: give JSON, e.g. --param {key}='{{\"a\": 1}}'"
                ) from None
        else:
            values[key] = text
    from pydantic import ValidationError  # noqa: PLC0415

    from oxbot.engine.strategies import format_validation_error  # noqa: PLC0415

    try:
        model = cls.Params(**values)
    except ValidationError as e:
        raise ConfigError(f"strategy {strategy}: {format_validation_error(e)}") from None
    dumped: dict[str, Any] = model.model_dump(mode="json")
    return {k: dumped[k] for k in values}


def flag_errors(e: Any, hints: bool = True) -> str:
    """A pydantic ValidationError of a BotConfig, in the words of the command line."""
    parts = []
    for err in e.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "value"
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        for field, flag in sorted(FIELD_FLAGS.items(), key=lambda kv: -len(kv[0])):
            if "_" in field and "." not in field:  # plain words like "name" stay as they are
                msg = msg.replace(field, flag)
        if not msg[1:2].isupper():  # "Input should be ..." -> "input ...", never "lIVE ..."
            msg = msg[:1].lower() + msg[1:]
        hint = HINTS.get(loc) if hints else None
        where = "" if loc == "risk" else f"{FIELD_FLAGS.get(loc, loc)}: "  # names its flags
        parts.append(f"{where}{msg}" + (f" ({hint})" if hint else ""))
    return "; ".join(parts)
