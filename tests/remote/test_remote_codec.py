"""Every command and event survives a trip through a JSON line, exactly.

The message classes are found by introspecting messages.py, and each sample instance is built
from the class's type hints with non-default values, so a new message class (or a field of a new
type) that the codec cannot carry makes this test fail.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from decimal import Decimal
from enum import Enum
from typing import Any

import pytest
from pydantic import BaseModel

from oxbot.engine import messages
from oxbot.engine.messages import BotView, Command, EngineSnapshot, Event, StartBot
from oxbot.engine.models import BotConfig, BotStatus, Mode, RiskLimits
from oxbot.remote import codec


def _classes_in_messages() -> list[type]:
    return [
        obj for obj in vars(messages).values()
        if isinstance(obj, type) and dataclasses.is_dataclass(obj)
        and issubclass(obj, Command | Event)
    ]


def _sample(hint: Any, name: str) -> Any:
    """A non-default value of type ``hint``, hard to carry: unicode, newlines, exact zeros."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, __import__("types").UnionType):
        return _sample(next(a for a in typing.get_args(hint) if a is not type(None)), name)
    if hint is Any:
        return {"sharpe": Decimal("1.2500"), "hits": [1, "two", None], "ratio": 0.25, "on": True}
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return (_sample(args[0], name), _sample(args[0], name + "2"))
        return tuple(_sample(a, f"{name}{i}") for i, a in enumerate(args))
    if origin is dict:
        return {"k": _sample(typing.get_args(hint)[1], name)}
    if hint is BotConfig:
        return BotConfig(name="alpha-1", symbols=("ETH/USDT", "SOL/USDT"), timeframe="5m",
                         params={"fast": 9, "slow": 21}, capital=Decimal("2500.50"),
                         risk=RiskLimits(stop_loss_pct=Decimal("2.25")), mode=Mode.LIVE,
                         exchange="binance", llm={"model": "m"})
    if isinstance(hint, type) and issubclass(hint, Enum):
        return list(hint)[-1]
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint, globalns=vars(messages))
        return hint(**{f.name: _sample(hints[f.name], f.name)
                       for f in dataclasses.fields(hint)})
    if hint is Decimal:
        return Decimal("-12345.678900")  # sign, trailing zeros: only exact transport keeps them
    if hint is bool:
        return False if name == "ok" else True
    if hint is int:
        return 1_700_000_000_123
    if hint is str:
        return f"{name}: naïve “quotes” \\ and\na newline ✓"
    raise AssertionError(f"test cannot build a {hint!r} for {name}: extend _sample (and the codec)")


def _instance(cls: type) -> Any:
    hints = typing.get_type_hints(cls, globalns=vars(messages))
    return cls(**{f.name: _sample(hints[f.name], f.name) for f in dataclasses.fields(cls)})


ALL = _classes_in_messages()


def test_every_message_class_is_known_to_the_codec() -> None:
    assert len(ALL) >= 25  # the introspection itself found the module's classes
    missing = [c.__name__ for c in ALL if codec.MESSAGE_TYPES.get(c.__name__) is not c]
    assert missing == []


@pytest.mark.parametrize("cls", ALL + [codec.StatusRequest, codec.StatusReport,
                                       codec.ProtocolError], ids=lambda c: c.__name__)
def test_round_trip_is_exact(cls: type) -> None:
    original = _instance(cls)
    line = codec.encode(original)
    assert line.endswith("\n") and line.count("\n") == 1  # one message, one line
    assert json.loads(line)["type"] == cls.__name__
    decoded = codec.decode(line)
    assert type(decoded) is cls
    assert decoded == original
    # Equality treats Decimal("1.10") == Decimal("1.1") and BotStatus.RUNNING == "running";
    # re-encoding proves the exact digits and the types came back too.
    assert codec.encode(decoded) == line
    if dataclasses.fields(cls):
        try:
            default = cls()
        except TypeError:
            default = None
        if default is not None:
            assert codec.encode(default) != line  # the sample really exercised the fields


def test_nested_types_come_back_as_their_own_types() -> None:
    snap = _instance(EngineSnapshot)
    back = codec.decode(codec.encode(snap))
    assert isinstance(back, EngineSnapshot)
    bot = back.bots[0]
    assert isinstance(back.bots, tuple) and isinstance(bot, BotView)
    assert isinstance(bot.config, BotConfig) and bot.config.mode is Mode.LIVE
    assert type(bot.status) is BotStatus
    assert str(bot.cash) == "-12345.678900"
    sharpe = bot.stats["k"]["sharpe"]
    assert type(sharpe) is Decimal and str(sharpe) == "1.2500"
    assert back.positions[0].stop_loss == Decimal("-12345.678900")


def test_optional_fields_carry_none() -> None:
    bot = _instance(BotView)
    bot = dataclasses.replace(bot, last_decision_ts=None, next_cycle_ts=None)
    snap = EngineSnapshot(bots=(bot,))
    assert codec.decode(codec.encode(snap)) == snap
    closed = messages.PositionChanged(bot="a", symbol="BTC/USDT", position=None)
    assert codec.decode(codec.encode(closed)) == closed


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("not json at all", "not valid JSON"),
        ('["StartBot"]', "JSON object"),
        ('{"name": "alpha"}', '"type"'),
        ('{"type": "LaunchRocket"}', "unknown message type 'LaunchRocket'"),
        ('{"type": "StartBot", "name": 5}', "StartBot.name: expected a string"),
        ('{"type": "StartBot", "nmae": "alpha"}', "unknown field(s) nmae"),
        ('{"type": "DeleteBot", "purge_history": "yes"}', "expected true or false"),
        ('{"type": "OrderFilled", "qty": "lots"}', "not a decimal number"),
        ('{"type": "OrderFilled", "qty": 0.1}', "as a string"),
        ('{"type": "AddBot", "config": {"name": "bad name!"}}', "invalid BotConfig"),
        ('{"type": "EngineSnapshot", "bots": [{"name": "x"}]}', "missing"),
        ('{"type": "EngineSnapshot", "bots": [{"name": "x", "status": "flying"}]}', "flying"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_malformed_lines_raise_a_clear_value_error(line: str | bytes, says: str) -> None:
    with pytest.raises(ValueError) as info:
        codec.decode(line)
    assert says in str(info.value)


def test_encode_refuses_foreign_objects() -> None:
    @dataclasses.dataclass(frozen=True)
    class StartBot2(Command):  # same shape, not one of ours
        name: str = ""

    with pytest.raises(ValueError, match="not a message class"):
        codec.encode(StartBot2(name="x"))
    assert codec.decode(codec.encode(StartBot(name="x", request_id="r"))) == StartBot(
        name="x", request_id="r")


def test_pydantic_models_only_travel_as_declared() -> None:
    # BotConfig is validated on the way in: a forged config cannot bypass its rules.
    line = codec.encode(messages.AddBot(config=BotConfig(name="ok")))
    forged = line.replace('"capital":"10000"', '"capital":"-5"')
    assert forged != line
    with pytest.raises(ValueError, match="capital"):
        codec.decode(forged)
    assert issubclass(BotConfig, BaseModel)
