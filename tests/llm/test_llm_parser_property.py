"""Property: whatever the text, the parser returns a Decision - valid within the schema's
bounds, or the all-HOLD fallback with its error - and never raises."""

from __future__ import annotations

import json
import re
import unicodedata
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oxbot.engine.llm.decision import parse_decision
from oxbot.engine.models import Action, Decision, Position

SYMBOLS = ["BTC/USDT", "ETH/USDT"]
PRICES = {"BTC/USDT": Decimal("43000"), "ETH/USDT": Decimal("2300")}
HELD = {"ETH/USDT": Position("ETH/USDT", Decimal(1), Decimal(2200), None, None, 0)}

numbers = st.one_of(
    st.none(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.booleans(),
)
calls = st.fixed_dictionaries(
    {
        "symbol": st.one_of(st.sampled_from([*SYMBOLS, "DOGE/USDT", "btc/usdt"]), st.text()),
        "action": st.one_of(
            st.sampled_from(["buy", "sell", "hold", "close", "BUY", "short"]), st.text(max_size=8)
        ),
    },
    optional={
        "size_pct": numbers,
        "stop_loss": numbers,
        "take_profit": numbers,
        "confidence": numbers,
        "reasoning": st.text(max_size=50),
        "extra": numbers,
    },
)
# Near-valid calls: right symbols and actions, extreme but typed numbers.
plausible = st.one_of(
    st.none(),
    st.decimals(-(10**10), 10**10, allow_nan=False, places=4).map(float),
    st.floats(0, 1),
    st.floats(0, 200),
)
near_calls = st.fixed_dictionaries(
    {
        "symbol": st.sampled_from(SYMBOLS),
        "action": st.sampled_from(["buy", "sell", "hold", "close"]),
    },
    optional={
        "size_pct": plausible,
        "stop_loss": plausible,
        "take_profit": plausible,
        "confidence": plausible,
        "reasoning": st.text(max_size=30),
    },
)
near = st.builds(
    lambda cs: {"decisions": list({c["symbol"]: c for c in cs}.values())},
    st.lists(near_calls, min_size=1, max_size=2),
)
replies = st.fixed_dictionaries(
    {"decisions": st.lists(calls, max_size=4)}, optional={"analysis": st.text(max_size=40)}
)


def _json_text(draw_obj: object, wrap: str) -> str:
    body = json.dumps(draw_obj, allow_nan=True)
    return wrap.replace("@", body)


texts = st.one_of(
    st.text(max_size=400),
    st.builds(_json_text, near, st.sampled_from(["@", "```@```", "ok: @"])),
    st.builds(
        _json_text,
        replies,
        st.sampled_from(["@", "```json\n@\n```", "Sure: @ done", "<think>x</think>@"]),
    ),
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
    text = json.dumps(
        {
            "decisions": [
                {
                    "symbol": "BTC/USDT",
                    "action": "buy",
                    "size_pct": 5,
                    "stop_loss": 42000,
                    "take_profit": 45000,
                }
            ]
        }
    )
    d = parse_decision(text, bot="b", ts=0, symbols=SYMBOLS, positions=HELD, prices=PRICES)
    check(d)
    assert d.items[0].action is Action.BUY and d.items[0].size_pct == 5


# ---------------------------------------------------------------- the whole-answer rule


def _valid_reply(calls: list[dict]) -> str:
    return json.dumps({"analysis": "a", "decisions": calls})


valid_calls = st.lists(
    st.fixed_dictionaries(
        {"symbol": st.sampled_from(SYMBOLS), "action": st.sampled_from(["buy", "hold"])},
        optional={
            "size_pct": st.one_of(st.none(), st.integers(1, 100)),
            "reasoning": st.text(max_size=30),
        },
    ),
    min_size=1,
    max_size=2,
    unique_by=lambda c: c["symbol"],
)
# Prose that cannot itself be mistaken for JSON or a reasoning tag.
prose = st.text(st.characters(blacklist_characters="{}[]<>`"), min_size=1, max_size=60).filter(
    lambda t: t.strip()
)


def _decides(text: str) -> bool:
    d = parse_decision(text, bot="b", ts=0, symbols=SYMBOLS, positions=HELD, prices=PRICES)
    return d.source != "fallback"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_calls, prose, prose, st.booleans())
def test_a_decision_object_inside_prose_is_never_a_decision(calls, before, after, both):
    body = _valid_reply(calls)
    assert _decides(body)  # the object alone is one
    text = f"{before} {body}" + (f" {after}" if both else "")
    assert not _decides(text)
    assert not _decides(f"{body} {after}")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_calls, valid_calls, st.sampled_from(["", "\n", " correction: ", "```\n```"]))
def test_more_than_one_candidate_object_is_never_a_decision(first, second, glue):
    assert not _decides(_valid_reply(first) + glue + _valid_reply(second))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_calls, st.text(max_size=40), st.sampled_from(["think", "thinking", "reasoning"]))
def test_one_closed_reasoning_block_or_fence_is_removed_an_unclosed_one_is_not(calls, thought, tag):
    body = _valid_reply(calls)
    thought = thought.replace("<", "").replace(">", "")
    assert _decides(f"<{tag}>{thought}</{tag}>\n{body}")
    assert _decides(f"```json\n{body}\n```")
    assert not _decides(f"<{tag}>{thought}\n{body}")  # cut off while thinking


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.sampled_from(
            [
                "NaN",
                "Infinity",
                "-Infinity",
                '"NaN"',
                '"none"',
                '"n/a"',
                '""',
                '"default"',
                "true",
                "false",
                '"inf"',
                '"-inf"',
                "[]",
                "{}",
            ]
        ),
        st.text(st.characters(blacklist_categories=("Nd",)), min_size=1, max_size=8).map(
            json.dumps
        ),
    )
)
def test_an_unreadable_size_never_becomes_the_default(size):
    text = '{"decisions": [{"symbol": "BTC/USDT", "action": "buy", "size_pct": ' + size + "}]}"
    d = parse_decision(text, bot="b", ts=0, symbols=SYMBOLS, positions=HELD, prices=PRICES)
    if d.source != "fallback":  # only a readable number (e.g. "%" alone is not) may pass
        assert d.items[0].size_pct is not None
    else:
        assert d.is_hold


# ---------------------------------------------------------------- numbers, keys, symbols

PLAIN = re.compile(r"[ \t]*(-?[0-9]+(?:\.[0-9]+)?)%?[ \t]*")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.text(max_size=10),
        st.text(st.sampled_from("0123456789.,-_%$€ \u00a0\uff11\u0661e+"), min_size=1, max_size=8),
    )
)
def test_a_size_written_as_text_is_read_only_when_it_is_a_plain_decimal(size):
    # "1,5" was read as 15 (10x), "$12" as 12 %, "1_0" and non-ASCII digits as numbers.
    text = json.dumps({"decisions": [{"symbol": "BTC/USDT", "action": "buy", "size_pct": size}]})
    d = parse_decision(text, bot="b", ts=0, symbols=SYMBOLS, positions=HELD, prices=PRICES)
    plain = PLAIN.fullmatch(size)
    if d.source != "fallback":
        assert plain is not None, f"{size!r} was read as {d.items[0].size_pct}"
        value = Decimal(plain.group(1))
        assert d.items[0].size_pct == value or (value == 0 and d.items[0].action is Action.HOLD)
    elif plain is not None:
        assert not 0 < Decimal(plain.group(1)) <= 100  # refused only for its range


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(st.sampled_from("0123456789.%"), min_size=1, max_size=6))
def test_a_price_with_a_percent_sign_is_never_a_price(digits):
    text = json.dumps(
        {
            "decisions": [
                {"symbol": "BTC/USDT", "action": "buy", "size_pct": 5, "stop_loss": digits + "%"}
            ]
        }
    )
    d = parse_decision(text, bot="b", ts=0, symbols=SYMBOLS, positions=HELD, prices=PRICES)
    assert d.source == "fallback"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_calls, st.data())
def test_an_object_that_repeats_a_key_is_never_a_decision(calls, data):
    # Written by hand: json.dumps cannot repeat a key. The repeated key may be at any depth.
    where = data.draw(st.sampled_from(["call", "top"]))
    if where == "top":
        text = _valid_reply(calls)[:-1] + ', "decisions": ' + json.dumps(calls) + "}"
    else:
        key = data.draw(st.sampled_from(sorted(calls[0])))
        first = json.dumps(calls[0])
        text = _valid_reply(calls).replace(
            first, first[:-1] + f", {json.dumps(key)}: {json.dumps(calls[0][key])}}}", 1
        )
    assert not _decides(text)


def _fold(c: str) -> str:
    return unicodedata.normalize("NFKC", c).upper()


# ASCII letter -> the non-ASCII characters that upper-case or NFKC-fold to it (long s -> S,
# dotless i -> I, Kelvin sign -> K, full-width and mathematical letters...).
LOOK_ALIKES: dict[str, list[str]] = {}
for _c in map(chr, range(0x80, 0x20000)):
    for _f in {_c.upper(), _fold(_c)}:
        if len(_f) == 1 and _f.isascii() and _f.isalpha():
            LOOK_ALIKES.setdefault(_f, []).append(_c)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SYMBOLS), st.data())
def test_a_symbol_with_a_look_alike_letter_is_never_one_of_the_bots(symbol, data):
    at = data.draw(st.sampled_from([i for i, c in enumerate(symbol) if c in LOOK_ALIKES]))
    char = data.draw(st.sampled_from(LOOK_ALIKES[symbol[at]]))
    case = data.draw(st.sampled_from([str.upper, str.lower]))
    sym = case(symbol[:at]) + char + case(symbol[at + 1 :])
    text = json.dumps({"decisions": [{"symbol": sym, "action": "buy", "size_pct": 5}]})
    assert not _decides(text), f"{ascii(sym)} was taken for {symbol}"


def test_look_alike_letters_of_real_symbols_are_refused():
    # Each of these upper-cases or NFKC-folds to a listed symbol (long s, dotless i,
    # the "st" ligature, Kelvin sign, full-width letters); ASCII in any case is accepted.
    symbols = ["BTC/USDT", "LINK/USDT", "ASTR/USDT", "KAS/USDT"]
    for sym in (
        "btc/u\u017fdt",
        "l\u0131nk/usdt",
        "a\ufb06r/usdt",
        "\u212aAS/USDT",
        "\uff22\uff34\uff23/USDT",
        "BTC/USDT\u00a0",
    ):
        d = parse_decision(
            json.dumps({"decisions": [{"symbol": sym, "action": "buy"}]}),
            bot="b",
            ts=0,
            symbols=symbols,
            positions={},
            prices={},
        )
        assert d.source == "fallback" and "outside ASCII" in d.meta["error"], sym
    d = parse_decision(
        json.dumps({"decisions": [{"symbol": " link/usdt", "action": "buy"}]}),
        bot="b",
        ts=0,
        symbols=symbols,
        positions={},
        prices={},
    )
    assert d.source == "llm" and d.items[1].action is Action.BUY
