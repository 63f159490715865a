"""JSON lines for the control socket: every Command and Event, to one line of text and back.

One message is one line: ``{"type": "ClassName", ...fields}`` followed by ``\\n``. The fields are
written and read by pydantic (one ``TypeAdapter`` per message class, over the dataclasses as they
are declared in engine/messages.py): Decimals travel as strings, exactly; enums by value; tuples
as lists; BotConfig as its own JSON; BotView, PositionView and LlmFigures as nested objects.
How strictly a line is read is declared with the types (``messages.WIRE``, ``messages.Money``):
every value of its declared type, no unknown field, no money as a JSON number.

Anything that cannot be decoded (bad JSON, an unknown type, a field of the wrong type) raises a
DecodeError (a ValueError) whose text says what was wrong and where: the server answers it with
a ProtocolError line and carries on.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from oxbot.engine import messages
from oxbot.engine.messages import Command, Event

Message = Command | Event

# What `oxbot status` shows: plain JSON values only, so they come back as they went.
SummaryValue = str | int | float | bool | None

# --------------------------------------------------------------------------- socket-only messages


@dataclass(frozen=True, slots=True)
class StatusRequest(Command):
    """Ask the control server for the engine's status summary (`oxbot status`)."""


@dataclass(frozen=True, slots=True)
class StatusReport(Event):
    """The control server's answer to a StatusRequest."""

    request_id: str = ""
    summary: dict[str, SummaryValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProtocolError(Event):
    """The control server could not use a line a client sent; the connection stays open."""

    message: str = ""


class DecodeError(ValueError):
    """A line that holds no message this codec knows; the text says why."""


def _message_classes() -> dict[str, type[Message]]:
    """Every Command/Event class: those of messages.py (found by walking the subclasses, so a
    new message is carried without being listed here) and the socket-only ones above."""
    found: dict[str, type[Message]] = {}
    todo: list[type[Message]] = [Command, Event]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        # the module's own class: ``dataclass(slots=True)`` leaves the class it replaced behind
        if (
            cls.__module__ in (messages.__name__, __name__)
            and getattr(sys.modules[cls.__module__], cls.__name__, None) is cls
        ):
            found[cls.__name__] = cls
    return found


MESSAGE_TYPES: dict[str, type[Message]] = _message_classes()
MAX_ERRORS = 3  # problems of one line spelled out; the rest are counted


_adapters: dict[type, TypeAdapter[Any]] = {}


def _adapter(cls: type[Message]) -> TypeAdapter[Any]:
    """The class's TypeAdapter, built on first use (building all of them costs start-up time)."""
    adapter = _adapters.get(cls)
    if adapter is None:
        adapter = _adapters[cls] = TypeAdapter(cls)
    return adapter


# --------------------------------------------------------------------------- encode


def encode(msg: Message) -> str:
    """One JSON line (with the trailing newline) for a command or an event."""
    cls = type(msg)
    if MESSAGE_TYPES.get(cls.__name__) is not cls:
        raise ValueError(f"cannot encode {cls.__name__}: not a message class of oxbot.engine")
    try:
        fields = _adapter(cls).dump_python(msg, mode="json")
    except ValueError as e:  # pydantic's serialisation errors are ValueErrors too
        raise ValueError(f"cannot encode {cls.__name__}: {e}") from None
    # ensure_ascii keeps the line pure ASCII; newlines inside strings are escaped by json.
    return json.dumps({"type": cls.__name__, **fields}, separators=(",", ":")) + "\n"


# --------------------------------------------------------------------------- decode


def decode(line: str | bytes) -> Message:
    """The command or event a JSON line holds; DecodeError (with the reason) when it holds none."""
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DecodeError(f"message is not UTF-8 text: {e}") from None
    try:
        body = json.loads(line)
    except json.JSONDecodeError as e:
        raise DecodeError(f"message is not valid JSON ({e.msg} at column {e.colno})") from None
    except RecursionError:
        raise DecodeError("message is nested too deeply") from None
    except ValueError as e:  # e.g. an integer of more digits than Python converts
        raise DecodeError(f"message cannot be read: {e}") from None
    if not isinstance(body, dict):
        raise DecodeError('message must be a JSON object such as {"type": "StartBot", ...}')
    type_name = body.pop("type", None)
    if not isinstance(type_name, str):
        raise DecodeError('message has no "type" field naming a command or event')
    cls = MESSAGE_TYPES.get(type_name)
    if cls is None:
        raise DecodeError(f"unknown message type {type_name!r}")
    try:
        # From JSON text, not from the parsed dict: pydantic's JSON mode reads "1.50" as a
        # Decimal and a list as a tuple, which its strict Python mode would refuse.
        msg: Message = _adapter(cls).validate_json(json.dumps(body))
    except RecursionError:
        raise DecodeError("message is nested too deeply") from None
    except ValidationError as e:
        if any(p["type"] == "json_invalid" for p in e.errors(include_url=False)):
            # Python's json reads a lone surrogate (\\ud800) that no UTF-8 text can hold
            raise DecodeError("message holds text that is not valid Unicode") from None
        raise DecodeError(_explain(cls, e)) from None
    return msg


def _explain(cls: type, error: ValidationError) -> str:
    """pydantic's findings as one line: ``StartBot.name: expected a string, got 5; ...``."""
    problems = error.errors(include_url=False)
    said = [_one(cls, p["loc"], p) for p in problems[:MAX_ERRORS]]
    if len(problems) > MAX_ERRORS:
        said.append(f"and {len(problems) - MAX_ERRORS} more")
    return "; ".join(said)


def _one(cls: type, loc: Sequence[int | str], problem: Any) -> str:
    kind, value = problem["type"], problem.get("input")
    if kind in ("unexpected_keyword_argument", "extra_forbidden"):
        return f"{_where(cls, loc[:-1])}: unknown field(s) {loc[-1]}"
    if kind == "missing":
        return f"{_where(cls, loc)}: missing (a required field)"
    model = _model_on(cls, loc)
    if model is not None:
        return f"{_where(cls, loc)}: invalid {model.__name__}: {problem['msg']}"
    what = _PLAIN.get(kind)
    if what is not None:
        return f"{_where(cls, loc)}: {what}, got {value!r}"
    if kind == "enum":
        return f"{_where(cls, loc)}: {value!r} is not one of {problem['ctx']['expected']}"
    if kind.startswith("decimal"):
        return f"{_where(cls, loc)}: {value!r} is not a decimal number"
    text = str(problem["msg"]).removeprefix("Value error, ")
    return f"{_where(cls, loc)}: {text}"


_PLAIN = {
    "string_type": "expected a string",
    "bool_type": "expected true or false",
    "int_type": "expected an integer",
    "float_type": "expected a number",
    "tuple_type": "expected a list",
    "list_type": "expected a list",
    "dict_type": "expected an object",
    "dataclass_type": "expected an object",
    "dataclass_exact_type": "expected an object",
}


def _where(cls: type, loc: Sequence[int | str]) -> str:
    path = cls.__name__
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _model_on(cls: type, loc: Sequence[int | str]) -> type[BaseModel] | None:
    """The pydantic model (BotConfig) the failing value sits in, if any: its own rules said no."""
    hint: Any = cls
    for part in loc:
        hint = _unwrap(hint)
        if isinstance(hint, type) and issubclass(hint, BaseModel):
            return hint
        if isinstance(hint, type) and dataclasses.is_dataclass(hint) and isinstance(part, str):
            hint = typing.get_type_hints(hint).get(part)
        elif typing.get_origin(hint) is tuple and isinstance(part, int):
            args = typing.get_args(hint)
            hint = (
                args[0]
                if len(args) == 2 and args[1] is Ellipsis
                else args[part]
                if part < len(args)
                else None
            )
        else:
            return None
    return None


def _unwrap(hint: Any) -> Any:
    """``X`` from ``X | None`` and ``Annotated[X, ...]``."""
    if typing.get_origin(hint) is typing.Annotated:
        hint = typing.get_args(hint)[0]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(options) == 1:
            return _unwrap(options[0])
    return hint
