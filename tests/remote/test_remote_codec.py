"""Every command and event survives a trip through a JSON line, exactly.

The message classes are found by walking the subclasses of Command and Event, and hypothesis
builds instances of each from the class's type hints (unicode and newlines in strings, Decimals
of any sign, exponent and trailing zeros), so a new message class, or a field of a new type, is
covered without being listed here: if the codec cannot carry it, this test fails.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from decimal import Decimal
from enum import Enum
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from oxbot.engine import messages
from oxbot.engine.messages import BotView, Command, EngineSnapshot, Event, LlmFigures, StartBot
from oxbot.engine.models import BotConfig, BotStatus, Mode, RiskLimits
from oxbot.remote import codec

ODD_TEXT = [
    "",
    "naïve “quotes” \\ and\na newline ✓",
    "\r\n\t\x00",
    '{"type": "x"}\n',
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 🚀",
    "\u2028line separator\u2029",
]
CONFIGS = [
    BotConfig(name="ok"),
    BotConfig(
        name="alpha-1",
        symbols=("ETH/USDT", "SOL/USDT"),
        timeframe="5m",
        params={"fast": 9, "slow": 21},
        capital=Decimal("2500.50"),
        risk=RiskLimits(stop_loss_pct=Decimal("2.25")),
        mode=Mode.LIVE,
        exchange="binance",
        llm={"model": "m\nwith a newline ✓"},
    ),
]


def _subclasses(base: type) -> list[type]:
    """Every class below ``base`` defined by the engine or the socket, found by walking."""
    out, todo = [], [base]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        module = vars(messages) if cls.__module__ == messages.__name__ else vars(codec)
        if (
            cls.__module__ in (messages.__name__, codec.__name__)
            and module.get(cls.__name__) is cls
        ):
            out.append(cls)
    return out


ALL = sorted(_subclasses(Command) + _subclasses(Event), key=lambda c: c.__name__)


def strategy_for(hint: Any) -> st.SearchStrategy[Any]:
    """Values of ``hint`` (a field's type), as hard to carry as the type allows."""
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        return strategy_for(typing.get_args(hint)[0])
    if origin in (typing.Union, types.UnionType):
        return st.one_of([strategy_for(a) for a in typing.get_args(hint)])
    if hint is type(None):
        return st.none()
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return st.lists(strategy_for(args[0]), max_size=3).map(tuple)
        return st.tuples(*[strategy_for(a) for a in args])
    if origin is dict:
        key, value = typing.get_args(hint)
        return st.dictionaries(strategy_for(key), strategy_for(value), max_size=3)
    if hint is BotConfig:
        return st.sampled_from(CONFIGS)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return st.sampled_from(list(hint))
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint, include_extras=True)
        return st.builds(
            hint, **{f.name: strategy_for(hints[f.name]) for f in dataclasses.fields(hint)}
        )
    if hint is Decimal:
        return st.decimals(allow_nan=False, allow_infinity=False) | st.sampled_from(
            [Decimal("-12345.678900"), Decimal("0E-8"), Decimal("-0"), Decimal("1E+3")]
        )
    if hint is bool:
        return st.booleans()
    if hint is int:
        return st.integers(min_value=-(2**63), max_value=2**63)
    if hint is float:
        return st.floats(allow_nan=False, allow_infinity=False)
    if hint is str:
        return st.text() | st.sampled_from(ODD_TEXT)
    raise AssertionError(f"test cannot build a {hint!r}: extend strategy_for (and the codec)")


def test_every_message_class_is_known_to_the_codec() -> None:
    in_module = [
        obj
        for obj in vars(messages).values()
        if isinstance(obj, type) and issubclass(obj, Command | Event)
    ]
    assert len(in_module) >= 25 and set(in_module) <= set(ALL)
    assert {c.__name__: c for c in ALL} == codec.MESSAGE_TYPES


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_round_trip_is_exact(cls: type, data: st.DataObject) -> None:
    original = data.draw(strategy_for(cls))
    line = codec.encode(original)
    assert line.endswith("\n") and line.count("\n") == 1  # one message, one line
    assert json.loads(line)["type"] == cls.__name__
    decoded = codec.decode(line)
    assert type(decoded) is cls
    assert decoded == original
    # Equality treats Decimal("1.10") == Decimal("1.1") and BotStatus.RUNNING == "running";
    # re-encoding proves the exact digits and the types came back too.
    assert codec.encode(decoded) == line
    assert codec.decode(line.encode()) == original  # bytes from the socket, same message


def test_decimals_travel_as_their_exact_text() -> None:
    fill = messages.OrderFilled(
        qty=Decimal("0.015819480"), price=Decimal("-0E-8"), fee=Decimal("1E+3")
    )
    body = json.loads(codec.encode(fill))
    assert (body["qty"], body["price"], body["fee"]) == ("0.015819480", "-0E-8", "1E+3")
    back = codec.decode(codec.encode(fill))
    assert isinstance(back, messages.OrderFilled)
    assert (str(back.qty), str(back.price), str(back.fee)) == ("0.015819480", "-0E-8", "1E+3")


def test_nested_types_come_back_as_their_own_types() -> None:
    bot = BotView(
        "alpha-1",
        CONFIGS[1],
        BotStatus.PAUSED,
        Decimal("-12345.678900"),
        Decimal(1),
        Decimal(1),
        Decimal(1),
        Decimal(0),
        Decimal(0),
        1,
        2,
        3,
        0,
        None,
        None,
        pause_reason="binance unreachable: 5xx",
        stale_symbols=("ETH/USDT",),
        llm=LlmFigures(model="m", cost_today=Decimal("1.2500"), parse_failures=(("m", 2),)),
    )
    pos = messages.PositionView(
        "alpha-1",
        "ETH/USDT",
        "long",
        Decimal("0.5"),
        Decimal(2),
        Decimal(3),
        Decimal(1),
        Decimal("-12345.678900"),
        None,
    )
    back = codec.decode(codec.encode(EngineSnapshot(bots=(bot,), positions=(pos,))))
    assert isinstance(back, EngineSnapshot)
    got = back.bots[0]
    assert isinstance(back.bots, tuple) and isinstance(got, BotView)
    assert isinstance(got.config, BotConfig) and got.config.mode is Mode.LIVE
    assert type(got.status) is BotStatus and str(got.cash) == "-12345.678900"
    assert got.stale_symbols == ("ETH/USDT",) and got.pause_reason.endswith("5xx")
    assert isinstance(got.llm, LlmFigures) and str(got.llm.cost_today) == "1.2500"
    assert got.llm.parse_failures == (("m", 2),)
    assert back.positions[0].stop_loss == Decimal("-12345.678900")
    assert back.positions[0].take_profit is None


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
        ('{"type": "OrderFilled", "qty": "NaN"}', "not a finite decimal number"),
        ('{"type": "OrderFilled", "qty": 0.1}', "as a string"),
        ('{"type": "AddBot", "config": {"name": "bad name!"}}', "invalid BotConfig"),
        ('{"type": "EngineSnapshot", "bots": [{"name": "x"}]}', "missing"),
        ('{"type": "EngineSnapshot", "bots": [{"name": "x"}]}', "and 11 more"),
        ('{"type": "EngineSnapshot", "bots": [{"name": "x", "status": "flying"}]}', "flying"),
        (
            '{"type": "EngineSnapshot", "bots": [{"name": "x", "status": "flying"}]}',
            "EngineSnapshot.bots[0].status",
        ),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_malformed_lines_raise_a_clear_value_error(line: str | bytes, says: str) -> None:
    with pytest.raises(codec.DecodeError) as info:
        codec.decode(line)
    assert isinstance(info.value, ValueError)  # what the server and client catch
    assert says in str(info.value)


def test_encode_refuses_foreign_objects() -> None:
    @dataclasses.dataclass(frozen=True)
    class StartBot2(Command):  # same shape, not one of ours
        name: str = ""

    with pytest.raises(ValueError, match="not a message class"):
        codec.encode(StartBot2(name="x"))
    assert codec.decode(codec.encode(StartBot(name="x", request_id="r"))) == StartBot(
        name="x", request_id="r"
    )


def test_pydantic_models_only_travel_as_declared() -> None:
    # BotConfig is validated on the way in: a forged config cannot bypass its rules.
    line = codec.encode(messages.AddBot(config=BotConfig(name="ok")))
    forged = line.replace('"capital":"10000"', '"capital":"-5"')
    assert forged != line
    with pytest.raises(ValueError, match="capital"):
        codec.decode(forged)
    assert issubclass(BotConfig, BaseModel)
