"""JSON lines for the control socket: every Command and Event, to one line of text and back.

One message is one line: ``{"type": "ClassName", ...fields}`` followed by ``\\n``. Decoding is
driven by the dataclass type hints, so it is lossless: Decimals travel as strings, enums by value,
tuples as lists, BotConfig through pydantic (``model_dump(mode="json")`` / ``model_validate``),
BotView and PositionView as nested objects. Values typed ``Any`` (``BotView.stats``) keep Decimals
exact through a ``{"$decimal": "..."}`` tag.

Anything that cannot be decoded (bad JSON, an unknown type, a field of the wrong type) raises a
ValueError whose text says what was wrong: the server answers it with a ProtocolError line and
carries on.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any

from pydantic import BaseModel, ValidationError

from oxbot.engine import messages
from oxbot.engine.messages import Command, Event

Message = Command | Event

_DECIMAL_TAG = "$decimal"


# --------------------------------------------------------------------------- socket-only messages


@dataclass(frozen=True, slots=True)
class StatusRequest(Command):
    """Ask the control server for the engine's status summary (`oxbot status`)."""


@dataclass(frozen=True, slots=True)
class StatusReport(Event):
    """The control server's answer to a StatusRequest."""

    request_id: str = ""
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProtocolError(Event):
    """The control server could not use a line a client sent; the connection stays open."""

    message: str = ""


def _message_classes() -> dict[str, type]:
    """Every Command/Event dataclass in messages.py, plus the socket-only ones above."""
    found: dict[str, type] = {}
    for obj in [*vars(messages).values(), StatusRequest, StatusReport, ProtocolError]:
        if (
            isinstance(obj, type)
            and dataclasses.is_dataclass(obj)
            and issubclass(obj, Command | Event)
        ):
            found[obj.__name__] = obj
    return found


MESSAGE_TYPES: dict[str, type] = _message_classes()

_hints_cache: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _hints_cache.get(cls)
    if hints is None:
        # messages.py uses `from __future__ import annotations`: resolve the strings in its
        # namespace (BotConfig, BotStatus, ... are imported there).
        hints = typing.get_type_hints(cls, globalns=vars(messages))
        _hints_cache[cls] = hints
    return hints


# --------------------------------------------------------------------------- encode


def encode(msg: Message) -> str:
    """One JSON line (with the trailing newline) for a command or an event."""
    cls = type(msg)
    if MESSAGE_TYPES.get(cls.__name__) is not cls:
        raise ValueError(f"cannot encode {cls.__name__}: not a message class of oxbot.engine")
    body: dict[str, Any] = {"type": cls.__name__}
    body.update(_encode_fields(msg))
    # ensure_ascii keeps the line pure ASCII; newlines inside strings are escaped by json.
    return json.dumps(body, separators=(",", ":")) + "\n"


def _encode_fields(obj: Any) -> dict[str, Any]:
    hints = _hints(type(obj))
    return {
        f.name: _encode_value(getattr(obj, f.name), hints[f.name])
        for f in dataclasses.fields(obj)
    }


def _encode_value(value: Any, hint: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if hint is Any:
        return _encode_any(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _encode_fields(value)
    if isinstance(value, tuple):
        args = _non_none_args(hint)
        inner = typing.get_args(args[0]) if args else ()
        if len(inner) == 2 and inner[1] is Ellipsis:
            return [_encode_value(v, inner[0]) for v in value]
        if len(inner) == len(value):
            return [_encode_value(v, h) for v, h in zip(value, inner, strict=True)]
        return [_encode_any(v) for v in value]
    if isinstance(value, dict):
        args = _non_none_args(hint)
        inner = typing.get_args(args[0]) if args else ()
        vh = inner[1] if len(inner) == 2 else Any
        return {str(k): _encode_value(v, vh) for k, v in value.items()}
    return value


def _encode_any(value: Any) -> Any:
    """A value of unknown type: JSON natives as they are, Decimals tagged so they stay exact."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return {_DECIMAL_TAG: str(value)}
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [_encode_any(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode_any(v) for k, v in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise ValueError(f"cannot encode a value of type {type(value).__name__} ({value!r})")


def _non_none_args(hint: Any) -> tuple[Any, ...]:
    """The hint itself, or the non-None members of an Optional/Union hint."""
    if _is_union(hint):
        return tuple(a for a in typing.get_args(hint) if a is not type(None))
    return (hint,)


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


# --------------------------------------------------------------------------- decode


def decode(line: str | bytes) -> Message:
    """The command or event a JSON line holds; ValueError (with the reason) when it holds none."""
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"message is not UTF-8 text: {e}") from None
    try:
        body = json.loads(line)
    except json.JSONDecodeError as e:
        raise ValueError(f"message is not valid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(body, dict):
        raise ValueError('message must be a JSON object such as {"type": "StartBot", ...}')
    type_name = body.pop("type", None)
    if not isinstance(type_name, str):
        raise ValueError('message has no "type" field naming a command or event')
    cls = MESSAGE_TYPES.get(type_name)
    if cls is None:
        raise ValueError(f"unknown message type {type_name!r}")
    result: Message = _decode_dataclass(cls, body, type_name)
    return result


def _decode_dataclass(cls: type, body: Any, where: str) -> Any:
    if not isinstance(body, dict):
        raise ValueError(f"{where}: expected an object, got {type(body).__name__}")
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(body) - names)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)}")
    kwargs = {name: _decode_value(value, hints[name], f"{where}.{name}")
              for name, value in body.items()}
    try:
        return cls(**kwargs)
    except TypeError as e:  # a required field (BotView.name, ...) is missing
        raise ValueError(f"{where}: {e}") from None


def _decode_value(value: Any, hint: Any, where: str) -> Any:
    if hint is Any:
        return _decode_any(value)
    if _is_union(hint):
        if value is None and type(None) in typing.get_args(hint):
            return None
        errors = []
        for option in _non_none_args(hint):
            try:
                return _decode_value(value, option, where)
            except ValueError as e:
                errors.append(str(e))
        raise ValueError(errors[0] if len(errors) == 1 else f"{where}: {'; '.join(errors)}")
    if value is None:
        raise ValueError(f"{where}: must not be null")
    origin = typing.get_origin(hint)
    if origin is tuple:
        if not isinstance(value, list):
            raise ValueError(f"{where}: expected a list, got {type(value).__name__}")
        inner = typing.get_args(hint)
        if len(inner) == 2 and inner[1] is Ellipsis:
            return tuple(_decode_value(v, inner[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(inner) != len(value):
            raise ValueError(f"{where}: expected {len(inner)} items, got {len(value)}")
        return tuple(_decode_value(v, h, f"{where}[{i}]")
                     for i, (v, h) in enumerate(zip(value, inner, strict=True)))
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected an object, got {type(value).__name__}")
        _, vh = typing.get_args(hint)
        return {k: _decode_value(v, vh, f"{where}.{k}") for k, v in value.items()}
    if not isinstance(hint, type):
        raise ValueError(f"{where}: the codec does not support the type {hint!r}")
    if issubclass(hint, BaseModel):
        try:
            return hint.model_validate(value)
        except ValidationError as e:
            raise ValueError(f"{where}: invalid {hint.__name__}: {e}") from None
    if dataclasses.is_dataclass(hint):
        return _decode_dataclass(hint, value, where)
    if issubclass(hint, Enum):
        try:
            return hint(value)
        except ValueError:
            allowed = ", ".join(str(m.value) for m in hint)
            raise ValueError(f"{where}: {value!r} is not one of {allowed}") from None
    if hint is Decimal:
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise ValueError(f"{where}: expected a decimal number as a string, got {value!r}")
        try:
            return Decimal(value)
        except InvalidOperation:
            raise ValueError(f"{where}: {value!r} is not a decimal number") from None
    if hint is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{where}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{where}: expected an integer, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ValueError(f"{where}: expected a string, got {value!r}")
        return value
    if hint is float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ValueError(f"{where}: expected a number, got {value!r}")
        return float(value)
    raise ValueError(f"{where}: the codec does not support the type {hint.__name__}")


def _decode_any(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode_any(v) for v in value]
    if isinstance(value, dict):
        if len(value) == 1 and _DECIMAL_TAG in value:
            try:
                return Decimal(value[_DECIMAL_TAG])
            except (InvalidOperation, TypeError):
                raise ValueError(f"{value[_DECIMAL_TAG]!r} is not a decimal number") from None
        return {k: _decode_any(v) for k, v in value.items()}
    return value
