"""Property: whatever the text, the parser returns a Decision - valid within the schema's
bounds, or the all-HOLD fallback with its error - and never raises."""

from __future__ import annotations

import json
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oxbot.engine.llm.decision import parse_decision
from oxbot.engine.models import Action, Decision, Position

SYMBOLS = ["BTC/USDT", "ETH/USDT"]
PRICES = {"BTC/USDT": Decimal("43000"), "ETH/USDT": Decimal("2300")}
HELD = {"ETH/USDT": Position("ETH/USDT", Decimal(1), Decimal(2200), None, None, 0)}

numbers = st.one_of(st.none(), st.integers(-10**12, 10**12),
                    st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=12), st.booleans())
calls = st.fixed_dictionaries(
    {"symbol": st.one_of(st.sampled_from([*SYMBOLS, "DOGE/USDT", "btc/usdt"]), st.text()),
     "action": st.one_of(st.sampled_from(["buy", "sell", "hold", "close", "BUY", "short"]),
                         st.text(max_size=8))},
    optional={"size_pct": numbers, "stop_loss": numbers, "take_profit": numbers,
              "confidence": numbers, "reasoning": st.text(max_size=50), "extra": numbers},
)
# Near-valid calls: right symbols and actions, extreme but typed numbers.
plausible = st.one_of(st.none(), st.decimals(-10**10, 10**10, allow_nan=False, places=4)
                      .map(float), st.floats(0, 1), st.floats(0, 200))
near_calls = st.fixed_dictionaries(
    {"symbol": st.sampled_from(SYMBOLS),
     "action": st.sampled_from(["buy", "sell", "hold", "close"])},
    optional={"size_pct": plausible, "stop_loss": plausible, "take_profit": plausible,
              "confidence": plausible, "reasoning": st.text(max_size=30)},
)
near = st.builds(lambda cs: {"decisions": list({c["symbol"]: c for c in cs}.values())},
                 st.lists(near_calls, min_size=1, max_size=2))
replies = st.fixed_dictionaries({"decisions": st.lists(calls, max_size=4)},
                                optional={"analysis": st.text(max_size=40)})


def _json_text(draw_obj: object, wrap: str) -> str:
    body = json.dumps(draw_obj, allow_nan=True)
    return wrap.replace("@", body)


texts = st.one_of(
    st.text(max_size=400),
    st.builds(_json_text, near, st.sampled_from(["@", "```@```", "ok: @"])),
    st.builds(_json_text, replies,
              st.sampled_from(["@", "```json\n@\n```", "Sure: @ done", "<think>x</think>@"])),
    st.builds(lambda r, cut: json.dumps(r)[:cut], replies, st.integers(0, 300)),
)


def check(d: Decision) -> None:
    assert isinstance(d, Decision)
    assert [i.symbol for i in d.items] == SYMBOLS
    if d.source == "fallback":
        assert d.is_hold and d.meta["error"]
        return
    assert d.source == "llm" and d.meta["error"] == ""
    for item in d.items:
        assert item.action is not Action.SELL
        if item.action is Action.CLOSE:
            assert item.symbol in HELD
        if item.size_pct is not None:
            assert item.action is Action.BUY and 0 < item.size_pct <= 100
        if item.action is Action.BUY:
            price = PRICES[item.symbol]
            assert item.stop_loss is None or 0 < item.stop_loss < price
            assert item.take_profit is None or item.take_profit > price
        if item.confidence is not None:
            assert 0 <= item.confidence <= 1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts)
def test_parser_never_raises_and_returns_decision_or_hold(text):
    check(parse_decision(text, bot="b", ts=0, symbols=SYMBOLS, positions=HELD, prices=PRICES))


def test_a_valid_reply_is_not_turned_into_a_hold():
    text = json.dumps({"decisions": [{"symbol": "BTC/USDT", "action": "buy", "size_pct": 5,
                                      "stop_loss": 42000, "take_profit": 45000}]})
    d = parse_decision(text, bot="b", ts=0, symbols=SYMBOLS, positions=HELD, prices=PRICES)
    check(d)
    assert d.items[0].action is Action.BUY and d.items[0].size_pct == 5
