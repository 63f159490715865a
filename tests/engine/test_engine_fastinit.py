"""fast_init: the cheaper ``__init__`` of the frozen dataclasses built per bot per candle gives
what the dataclass's own ``__init__`` gives (parameters, defaults, factories, frozen, equal,
hashable), and refuses classes it cannot serve."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from oxbot.engine.fastinit import fast_init
from oxbot.engine.market.hub import Tick
from oxbot.engine.messages import CandleClosed, DecisionMade, EquitySampled
from oxbot.engine.models import Action, Decision, EquityPoint, StreamKey, SymbolDecision


def _twins() -> tuple[type, type]:
    def make() -> type:
        @dataclass(frozen=True, slots=True)
        class Base:
            ts: int = 0

        @dataclass(frozen=True, slots=True)
        class Item(Base):
            name: str = ""
            qty: Decimal = Decimal(0)
            tags: tuple[str, ...] = ()
            meta: dict[str, int] = field(default_factory=dict)
            note: str = field(default="", kw_only=True)

        return Item

    return make(), fast_init(make())


def _params(cls: type) -> list[tuple[str, object, object]]:
    out = []
    for p in inspect.signature(cls).parameters.values():
        default = p.default
        if default is not inspect.Parameter.empty and repr(default) == "<factory>":
            default = "<factory>"
        out.append((p.name, p.kind, default))
    return out


def test_same_parameters_defaults_and_values_as_the_dataclass_init() -> None:
    slow, fast = _twins()
    assert _params(fast) == _params(slow)
    for args, kwargs in [
        ((), {}),
        ((5, "a", Decimal("1.5")), {}),
        ((5,), {"tags": ("x",), "meta": {"k": 1}, "note": "n"}),
    ]:
        a, b = slow(*args, **kwargs), fast(*args, **kwargs)
        assert dataclasses.astuple(a) == dataclasses.astuple(b)
        assert repr(a).split("(", 1)[1] == repr(b).split("(", 1)[1]
    one, two = fast(), fast()
    assert one.meta == {} and one.meta is not two.meta  # a fresh default per instance
    with pytest.raises(TypeError):
        fast(1, "a", Decimal(1), (), {}, "positional note")  # kw_only stays keyword-only
    with pytest.raises(TypeError):
        fast(1, nope=2)


def test_still_frozen_equal_hashable_and_picklable() -> None:
    for value in (
        EquitySampled(1, "b", Decimal("10.5"), Decimal(3)),
        EquityPoint("b", 1, Decimal("10.5"), Decimal(3)),
        CandleClosed(1, "b", "BTC/USDT", 1.0, 2.0, 0.5, 1.5, (("sma_10", 1.2),)),
        DecisionMade(1, "b", "rule", (("BTC/USDT", "hold"),), "why"),
        SymbolDecision("BTC/USDT", Action.HOLD, None, None, None, None, "why"),
        Tick(StreamKey("paper", "BTC/USDT", "5m"), 1, 2.5),
    ):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, dataclasses.fields(value)[0].name, 2)
        again = pickle.loads(pickle.dumps(value))
        assert again == value and hash(again) == hash(value)
        assert copy.copy(value) == value
        assert dataclasses.replace(value) == value
    d = Decision("b", 1, (SymbolDecision("X/Y", Action.BUY),), "text", "rule")
    assert (d.bot, d.ts, d.reasoning, d.source, d.meta) == ("b", 1, "text", "rule", {})
    assert not d.is_hold
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.bot = "c"  # type: ignore[misc]


def test_refuses_what_it_cannot_serve() -> None:
    @dataclass(frozen=True)
    class NoSlots:
        a: int = 0

    @dataclass(frozen=True, slots=True)
    class Post:
        a: int = 0

        def __post_init__(self) -> None:
            pass

    @dataclass(frozen=True, slots=True)
    class Hidden:
        a: int = 0
        b: int = field(default=0, init=False)

    for cls in (NoSlots, Post, Hidden):
        with pytest.raises(TypeError):
            fast_init(cls)
