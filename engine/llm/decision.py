"""The decision an LLM must answer: a pydantic schema (extra keys forbidden), and its conversion
into the engine's `Decision`.

Units: ``size_pct`` is a PERCENT of equity, 0-100 (10 means 10 %). It is a proposal only: the
RiskManager is the only sizer and clamps it to the bot's limits. ``stop_loss`` and
``take_profit`` are absolute prices in the quote currency.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ..models import Action, Decision, Position, SymbolDecision
from ..textsafe import storable
from .extract import ExtractError, Unreadable, extract_json

# A number written as text: an optional minus, ASCII digits, an optional fraction. Nothing
# else: "1,5" (a decimal comma, or a thousands separator?), "$12" (dollars, not percent),
# "1_0", "１２" or "١٢" (digits Decimal() would accept) are refused, never "cleaned".
_PLAIN_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


def _clean_number(v: Any, *, percent: bool = False) -> Any:
    """A number as the model wrote it -> a finite number pydantic reads, or ValueError.

    A JSON number, or a string that is a plain ASCII decimal ("12", "12.5", "-0.5", spaces
    around allowed); with ``percent`` (size_pct, confidence) one trailing "%" too. JSON null
    (None) is "not given": the risk default applies. Anything else - NaN, Infinity, "none",
    "", true, "1,5", "$12", "2%" for a price, units - is an error, never the default and
    never a guess: a garbage size must not become the largest one, nor ten times another.
    """
    if v is None:
        return None
    if isinstance(v, Unreadable):
        raise ValueError(f"{v} is not a number; give a number, or null for the default")
    if isinstance(v, bool):
        raise ValueError(
            f"{str(v).lower()} is not a number; give a number, or null for the default"
        )
    if isinstance(v, int | float | Decimal):
        if isinstance(v, int) or Decimal(str(v)).is_finite():
            return v
        raise ValueError(f"{v} is not a finite number; give a number, or null for the default")
    if isinstance(v, str):
        s = v.strip(" \t")
        if percent and s.endswith("%"):
            s = s[:-1]
        if _PLAIN_NUMBER.fullmatch(s):
            return s
        unit = ", or with one trailing %" if percent else " (a price: no %)"
        raise ValueError(
            f"{ascii(v[:20])} is not a plain number; write digits with a "
            f"decimal point{unit}, or null for the default"
        )
    return v  # a list or an object: pydantic names the type error


class SymbolCall(BaseModel):
    """One symbol's call."""

    model_config = ConfigDict(extra="forbid")

    symbol: str = Field(max_length=40)
    action: Literal["buy", "sell", "hold", "close"]
    size_pct: Decimal | None = Field(None, ge=0, le=100, allow_inf_nan=False)
    stop_loss: Decimal | None = Field(None, gt=0, allow_inf_nan=False)
    take_profit: Decimal | None = Field(None, gt=0, allow_inf_nan=False)
    confidence: float | None = Field(None, ge=0, le=1, allow_inf_nan=False)
    reasoning: str = Field("", max_length=4000)

    @field_validator("symbol", mode="before")
    @classmethod
    def _symbol(cls, v: Any) -> Any:
        """ASCII only: "btc/u\u017fdt".upper() is "BTC/USDT" (long s), and so are other
        look-alikes (dotless i, ligatures, full-width letters) after case or NFKC folding.
        A symbol written with any non-ASCII character is refused, not folded."""
        if not isinstance(v, str):
            return v
        if not v.isascii():
            raise ValueError(
                f"symbol {ascii(v[:40])} has characters outside ASCII; write "
                "the symbol exactly as listed"
            )
        return v.strip(" \t\r\n").upper()

    @field_validator("reasoning", mode="after")
    @classmethod
    def _text(cls, v: str) -> str:
        return storable(v)  # a JSON escape such as \\ud800 must not reach the database

    @field_validator("action", mode="before")
    @classmethod
    def _action(cls, v: Any) -> Any:
        return v.strip().lower() if isinstance(v, str) else v

    @field_validator("size_pct", mode="before")
    @classmethod
    def _size(cls, v: Any) -> Any:
        return _clean_number(v, percent=True)  # "10%" is 10: size_pct is a percent

    @field_validator("stop_loss", "take_profit", mode="before")
    @classmethod
    def _prices(cls, v: Any) -> Any:
        return _clean_number(v)  # prices: "2%" is not a price

    @field_validator("confidence", mode="before")
    @classmethod
    def _confidence(cls, v: Any) -> Any:
        pct = isinstance(v, str) and v.strip(" \t").endswith("%")
        v = _clean_number(v, percent=True)
        return float(v) / 100 if pct and v is not None else v


class DecisionReply(BaseModel):
    """The whole reply. Validate with ``context={"symbols": [...]}`` to reject foreign symbols."""

    model_config = ConfigDict(extra="forbid")

    analysis: str = Field("", max_length=8000)
    decisions: list[SymbolCall] = Field(min_length=1, max_length=20)

    @field_validator("analysis", mode="after")
    @classmethod
    def _text(cls, v: str) -> str:
        return storable(v)

    @model_validator(mode="after")
    def _symbols_known(self, info: Any) -> DecisionReply:
        allowed = (info.context or {}).get("symbols") if info is not None else None
        # The call's symbol (ASCII, upper-cased) must be exactly one of the bot's symbols
        # compared without case; it is then written as the bot writes it.
        by_upper: dict[str, list[str]] = {}
        for sym in allowed or ():
            by_upper.setdefault(sym.upper(), []).append(sym)
        seen: set[str] = set()
        for call in self.decisions:
            if allowed is not None:
                match = by_upper.get(call.symbol, [])
                if len(match) != 1:
                    raise ValueError(
                        f"symbol {call.symbol!r} is not one of this bot's symbols "
                        f"({', '.join(allowed)}); decide only for those"
                    )
                call.symbol = match[0]
            if call.symbol in seen:
                raise ValueError(f"symbol {call.symbol!r} appears twice; give one call per symbol")
            seen.add(call.symbol)
        return self


def json_schema(symbols: Sequence[str]) -> dict[str, Any]:
    """A plain JSON schema for `response_format` (hand-written: servers choke on pydantic's)."""
    num = {"type": ["number", "null"]}
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["analysis", "decisions"],
        "properties": {
            "analysis": {"type": "string"},
            "decisions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": [
                        "symbol",
                        "action",
                        "size_pct",
                        "stop_loss",
                        "take_profit",
                        "confidence",
                        "reasoning",
                    ],
                    "properties": {
                        "symbol": {"type": "string", "enum": list(symbols)},
                        "action": {"type": "string", "enum": ["buy", "sell", "hold", "close"]},
                        "size_pct": num,
                        "stop_loss": num,
                        "take_profit": num,
                        "confidence": num,
                        "reasoning": {"type": "string"},
                    },
                },
            },
        },
    }


@dataclass(frozen=True)
class Parsed:
    """Result of parsing one reply: ``reply`` is None when ``error`` says why."""

    reply: DecisionReply | None
    error: str = ""
    kind: str = "bad reply"  # a few words for the bots table when ``reply`` is None


def parse_reply(text: str, symbols: Sequence[str]) -> Parsed:
    """Reply text -> validated `DecisionReply`, or the reason it is unusable. Never raises."""
    try:
        data = extract_json(text)
        if isinstance(data, list):  # a bare list of calls
            data = {"decisions": data}
        if isinstance(data, dict) and "decisions" not in data and "symbol" in data:
            data = {"decisions": [data]}  # one bare call
        return Parsed(DecisionReply.model_validate(data, context={"symbols": list(symbols)}))
    except ExtractError as e:
        return Parsed(None, str(e))
    except ValidationError as e:
        return Parsed(None, _validation_text(e))
    except Exception as e:  # noqa: BLE001 - hostile input must end as an error, never a crash
        return Parsed(None, f"the reply could not be read ({type(e).__name__})")


def _validation_text(e: ValidationError) -> str:
    parts = []
    for err in e.errors()[:6]:
        loc = ".".join(str(x) for x in err["loc"]) or "reply"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "is not an allowed key"
        parts.append(f"{loc}: {msg}")
    return "invalid decision: " + "; ".join(parts)


def to_decision(
    reply: DecisionReply,
    *,
    bot: str,
    ts: int,
    symbols: Sequence[str],
    positions: Mapping[str, Position],
    prices: Mapping[str, Decimal],
    source: str,
    meta: dict[str, Any],
) -> Decision:
    """The engine `Decision`: one item per bot symbol (missing ones hold).

    Spot is long-only: ``sell`` of a held symbol closes it, ``sell``/``close`` of a symbol not
    held holds. A stop above (or a target below) the price of a buy is dropped - the risk
    manager's default applies - and the reasoning says so.
    """
    calls = {c.symbol: c for c in reply.decisions}
    items = []
    for sym in symbols:
        call = calls.get(sym)
        if call is None:
            items.append(SymbolDecision(sym, Action.HOLD, reasoning="no call in the reply"))
            continue
        notes: list[str] = []
        action = Action(call.action)
        held = sym in positions
        if action in (Action.SELL, Action.CLOSE):
            if not held:
                notes.append(f"{action.value} without a position: spot is long-only, holding")
                action = Action.HOLD
            else:
                action = Action.CLOSE
        sl, tp = call.stop_loss, call.take_profit
        price = prices.get(sym)
        if action is Action.BUY and price is not None and price > 0:
            if sl is not None and sl >= price:
                notes.append(f"stop_loss {sl} is not below the price {price}: ignored")
                sl = None
            if tp is not None and tp <= price:
                notes.append(f"take_profit {tp} is not above the price {price}: ignored")
                tp = None
        size = call.size_pct if action is Action.BUY else None
        if action is Action.BUY and size is not None and size == 0:
            notes.append("buy with size 0: holding")
            action, size = Action.HOLD, None
        why = call.reasoning.strip()
        if notes:
            why = f"{why} [{'; '.join(notes)}]" if why else f"[{'; '.join(notes)}]"
        items.append(
            SymbolDecision(
                sym,
                action,
                size_pct=size,
                stop_loss=sl,
                take_profit=tp,
                confidence=call.confidence,
                reasoning=why,
            )
        )
    meta = {**meta, "parsed": reply.model_dump_json()}
    return Decision(
        bot, ts, tuple(items), reasoning=reply.analysis.strip(), source=source, meta=meta
    )


def hold_decision(
    *, bot: str, ts: int, symbols: Sequence[str], error: str, meta: dict[str, Any]
) -> Decision:
    """The counted HOLD: every symbol holds, ``source="fallback"``, ``meta["error"]`` set."""
    items = tuple(
        SymbolDecision(s, Action.HOLD, reasoning=f"fallback hold: {error}") for s in symbols
    )
    meta = {**meta, "error": error, "parsed": json.dumps(None)}
    return Decision(
        bot, ts, items, reasoning=f"fallback HOLD: {error}", source="fallback", meta=meta
    )


def parse_decision(
    text: str,
    *,
    bot: str,
    ts: int,
    symbols: Sequence[str],
    positions: Mapping[str, Position],
    prices: Mapping[str, Decimal],
    source: str = "llm",
    meta: dict[str, Any] | None = None,
) -> Decision:
    """Text -> a valid Decision, or the fallback HOLD with the error in ``meta``. Never raises."""
    meta = dict(meta or {})
    parsed = parse_reply(text, symbols)
    if parsed.reply is None:
        return hold_decision(bot=bot, ts=ts, symbols=symbols, error=parsed.error, meta=meta)
    try:
        return to_decision(
            parsed.reply,
            bot=bot,
            ts=ts,
            symbols=symbols,
            positions=positions,
            prices=prices,
            source=source,
            meta={**meta, "error": ""},
        )
    except Exception as e:  # noqa: BLE001 - never let a reply crash the bot
        return hold_decision(
            bot=bot,
            ts=ts,
            symbols=symbols,
            error=f"the decision could not be converted ({type(e).__name__})",
            meta=meta,
        )
