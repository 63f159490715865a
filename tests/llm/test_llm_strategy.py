"""LLMStrategy end to end against the fake servers: streaming to ctx.emit, meta for storage,
repair re-ask, counted HOLD, cost accounting, budget, trigger cadence, offline provider."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest

from oxbot.engine.errors import BudgetExceeded, ConfigError
from oxbot.engine.llm import LLMParams, LLMStrategy
from oxbot.engine.llm.offline import LABEL
from oxbot.engine.market.indicators import FULL_SET
from oxbot.engine.models import Action, DecisionRecord, Position
from oxbot.engine.strategies import build_strategy

META_KEYS = {
    "provider",
    "model",
    "prompt_hash",
    "prompt",
    "raw_reply",
    "parsed",
    "error",
    "tokens_in",
    "tokens_out",
    "cost",
    "latency_ms",
}


def buy_btc(price: float, **over) -> str:
    call = {
        "symbol": "BTC/USDT",
        "action": "buy",
        "size_pct": 10,
        "stop_loss": round(price * 0.97, 2),
        "take_profit": round(price * 1.05, 2),
        "confidence": 0.7,
        "reasoning": "uptrend and MACD positive",
    }
    call.update(over)
    return json.dumps(
        {
            "analysis": "BTC looks strong.",
            "decisions": [
                call,
                {
                    "symbol": "ETH/USDT",
                    "action": "hold",
                    "size_pct": None,
                    "stop_loss": None,
                    "take_profit": None,
                    "confidence": 0.4,
                    "reasoning": "mixed",
                },
            ],
        }
    )


def strategy(srv, **params) -> LLMStrategy:
    p = LLMParams(
        provider=params.pop("provider", "openai"),
        base_url=srv.url,
        model=params.pop("model", "gpt-4o-mini"),
        **params,
    )
    return LLMStrategy(p, key_resolver=lambda prov: f"key-for-{prov}", backoff_base_s=0.01)


async def test_decision_streams_and_carries_meta(openai_server, ctx_factory):
    chunks: list[str] = []
    ctx = ctx_factory(emit=chunks.append)
    price = float(ctx.frames["BTC/USDT"]["close"].iloc[-1])
    openai_server.then(buy_btc(price))
    s = strategy(openai_server)
    try:
        d = await s.decide(ctx)
    finally:
        await s.aclose()
    assert d.source == "llm" and d.reasoning == "BTC looks strong."
    btc, eth = d.items
    assert (btc.symbol, btc.action, btc.size_pct) == ("BTC/USDT", Action.BUY, Decimal("10"))
    assert btc.stop_loss == Decimal(str(round(price * 0.97, 2)))
    assert eth.action is Action.HOLD
    assert "".join(chunks) == buy_btc(price) and len(chunks) > 10
    assert META_KEYS <= d.meta.keys()
    assert d.meta["provider"] == "openai" and d.meta["model"] == "gpt-4o-mini"
    assert d.meta["error"] == "" and d.meta["tokens_in"] == 321 and d.meta["tokens_out"] == 54
    # gpt-4o-mini: $0.15 in, $0.60 out per 1M tokens
    expected = (Decimal("0.15") * 321 + Decimal("0.60") * 54) / 1_000_000
    assert d.meta["cost"] == expected and s.stats["cost_today"] == expected
    assert json.loads(d.meta["parsed"])["decisions"][0]["action"] == "buy"
    assert "BTC/USDT price" in d.meta["prompt"] and len(d.meta["prompt"]) <= 8000
    assert d.meta["raw_reply"] == buy_btc(price)
    assert len(d.meta["prompt_hash"]) == 16
    assert s.stats["decisions"] == 1 and s.stats["cost_per_decision"] == expected


async def test_repair_reask_sends_the_error_back_then_succeeds(openai_server, ctx_factory):
    ctx = ctx_factory()
    price = float(ctx.frames["BTC/USDT"]["close"].iloc[-1])
    openai_server.then('{"decisions": [{"symbol": "BTC/USDT", "action": "moon"}]}', buy_btc(price))
    s = strategy(openai_server)
    try:
        d = await s.decide(ctx)
    finally:
        await s.aclose()
    assert d.source == "llm" and d.items[0].action is Action.BUY
    assert len(openai_server.requests) == 2
    repair_msgs = openai_server.requests[1].body["messages"]
    assert repair_msgs[-2]["role"] == "assistant" and "moon" in repair_msgs[-2]["content"]
    assert "action" in repair_msgs[-1]["content"]  # the validation error went back
    assert s.stats["repairs"] == 1 and s.stats["parse_failures"] == {}
    assert d.meta["tokens_in"] == 642  # both calls counted


async def test_two_bad_replies_end_in_a_counted_hold(openai_server, ctx_factory):
    chunks: list[str] = []
    openai_server.then("I think BTC will go up!")
    s = strategy(openai_server)
    try:
        d = await s.decide(ctx_factory(emit=chunks.append))
    finally:
        await s.aclose()
    assert d.source == "fallback" and d.is_hold
    assert "no JSON object" in d.meta["error"]
    assert len(openai_server.requests) == 2  # one repair at most
    assert s.stats["parse_failures"] == {"gpt-4o-mini": 1} and s.stats["fallbacks"] == 1
    assert s.parse_failure_rate() == 1.0
    assert "asking once more" in "".join(chunks)


async def test_provider_failure_is_a_visible_hold(openai_server, ctx_factory, reply_type):
    openai_server.then(reply_type(status=503, body="down"))
    chunks: list[str] = []
    s = strategy(openai_server)
    try:
        d = await s.decide(ctx_factory(emit=chunks.append))
    finally:
        await s.aclose()
    assert d.source == "fallback" and d.is_hold and "HTTP 503" in d.meta["error"]
    assert "LLM call failed" in "".join(chunks) and s.stats["errors"] == 1


async def test_refused_key_is_a_counted_hold_naming_the_fix(openai_server, ctx_factory, reply_type):
    # A refused key is a failure of this decision (stored, counted, shown), not a crashed
    # cycle; the provider is dropped so the next cycle reads the (fixed) key again.
    openai_server.then(reply_type(status=401, body="{}"))
    s = strategy(openai_server)
    try:
        d = await s.decide(ctx_factory())
        assert d.source == "fallback" and d.is_hold
        assert "oxbot keys set openai" in d.meta["error"]
        assert s.stats["failures"] == 1 and s.stats["errors"] == 1
        assert "oxbot keys set openai" in s.stats["last_failure"]
        assert s._provider is None
    finally:
        await s.aclose()


async def test_budget_reached_raises_before_any_call(openai_server, ctx_factory):
    ctx = ctx_factory()
    openai_server.then(buy_btc(float(ctx.frames["BTC/USDT"]["close"].iloc[-1])))
    # 321 in + 54 out tokens at $100/$100 per 1M = $0.0375 per call; budget $0.05.
    s = strategy(
        openai_server,
        daily_budget_usd=Decimal("0.05"),
        prices={"gpt-4o-mini": (Decimal(100), Decimal(100))},
    )
    try:
        await s.decide(ctx)
        await s.decide(ctx)  # $0.075 spent now
        with pytest.raises(BudgetExceeded, match="daily LLM budget"):
            await s.decide(ctx)
    finally:
        await s.aclose()
    assert len(openai_server.requests) == 2


async def test_budget_resets_next_day(openai_server, ctx_factory):
    days = [date(2026, 1, 1)]
    openai_server.then(buy_btc(43000.0))
    p = LLMParams(
        provider="openai",
        base_url=openai_server.url,
        model="gpt-4o",
        daily_budget_usd=Decimal("0.0001"),
    )
    s = LLMStrategy(p, key_resolver=lambda _p: "k", today=lambda: days[0])
    ctx = ctx_factory()
    try:
        await s.decide(ctx)
        with pytest.raises(BudgetExceeded):
            await s.decide(ctx)
        days[0] = date(2026, 1, 2)
        await s.decide(ctx)
    finally:
        await s.aclose()
    assert len(openai_server.requests) == 2
    assert s.stats["cost_total"] > s.stats["cost_today"] > 0


async def test_trigger_cadence_saves_calls(ctx_factory, frame_factory):
    s = LLMStrategy(
        LLMParams(
            provider="offline",
            cadence="trigger",
            trigger_move_pct=2.0,
            trigger_rsi_cross=False,
            trigger_ema_cross=False,
        )
    )
    base = frame_factory(150)
    ctx = ctx_factory(("BTC/USDT",), frames={"BTC/USDT": base.iloc[:100]})
    assert s.wants_decision(ctx)  # first cycle always decides
    await s.decide(ctx)
    for end in range(101, 110):  # a quiet market: small moves
        quiet = ctx_factory(("BTC/USDT",), frames={"BTC/USDT": base.iloc[:end]})
        price0 = float(base["close"].iloc[99])
        if abs(float(base["close"].iloc[end - 1]) / price0 - 1) < 0.02:
            assert not s.wants_decision(quiet)
    assert s.stats["calls_saved"] == 9
    jump = base.iloc[:110].copy()
    jump.loc[jump.index[-1], "close"] = float(jump["close"].iloc[-2]) * 1.05
    assert s.wants_decision(ctx_factory(("BTC/USDT",), frames={"BTC/USDT": jump}))
    assert "moved" in s.stats["last_trigger"]


async def test_trigger_on_sltp_proximity(ctx_factory):
    s = LLMStrategy(LLMParams(provider="offline", cadence="trigger", trigger_move_pct=50))
    ctx = ctx_factory(("BTC/USDT",))
    assert s.wants_decision(ctx)
    await s.decide(ctx)
    assert not s.wants_decision(ctx)
    price = Decimal(str(float(ctx.frames["BTC/USDT"]["close"].iloc[-1])))
    near = Position("BTC/USDT", Decimal(1), price, price * Decimal("0.998"), None, 0)
    ctx2 = ctx_factory(("BTC/USDT",), positions={"BTC/USDT": near}, frames=dict(ctx.frames))
    assert s.wants_decision(ctx2) and "stop" in s.stats["last_trigger"]


async def test_offline_provider_is_labelled_and_streams(ctx_factory):
    chunks: list[str] = []
    s = LLMStrategy(LLMParams())  # provider defaults to offline: no key, no network
    try:
        d = await s.decide(ctx_factory(emit=chunks.append))
    finally:
        await s.aclose()
    text = "".join(chunks)
    assert text.startswith(f"[{LABEL}]") and "not an LLM" in d.reasoning
    assert len(chunks) > 3 and d.source == "offline" and d.meta["error"] == ""
    assert d.meta["cost"] == 0 and d.meta["model"] == "offline-rules"
    assert {i.symbol for i in d.items} == {"BTC/USDT", "ETH/USDT"}


async def test_offline_buys_on_agreeing_signals_and_closes_held(ctx_factory, frame_factory):
    up = frame_factory(120, drift=0.001, seed=3)  # uptrend, RSI 63, MACD up
    down = frame_factory(120, drift=-0.0005, seed=7)  # downtrend, MACD down
    entry = Decimal(str(float(down["close"].iloc[-1])))
    held = {"ETH/USDT": Position("ETH/USDT", Decimal(1), entry, None, None, 0)}
    s = LLMStrategy(LLMParams())
    d = await s.decide(ctx_factory(frames={"BTC/USDT": up, "ETH/USDT": down}, positions=held))
    btc, eth = d.items
    price = Decimal(str(float(up["close"].iloc[-1])))
    assert btc.action is Action.BUY and btc.stop_loss < price < btc.take_profit
    assert eth.action is Action.CLOSE


async def test_memory_and_outcomes_reach_the_prompt(openai_server, ctx_factory):
    ctx = ctx_factory(
        memory=(
            DecisionRecord(
                "llmbot",
                0,
                "llm",
                "BTC/USDT:buy",
                verdict="clamped",
                verdict_reasons="size clamped to 15%",
            ),
        ),
        extra={"outcomes": ["BTC/USDT closed by take-profit, +42.10 USDT"]},
    )
    openai_server.then(buy_btc(43000))
    s = strategy(openai_server)
    try:
        await s.decide(ctx)
    finally:
        await s.aclose()
    user = openai_server.requests[0].body["messages"][1]["content"]
    assert "BTC/USDT:buy -> clamped (size clamped to 15%)" in user
    assert "take-profit, +42.10 USDT" in user


def test_params_validation_and_indicators():
    with pytest.raises(ValueError, match="needs base_url and model"):
        LLMParams(provider="openai_compatible")
    with pytest.raises(ValueError):
        LLMParams(provider="gemini")
    assert LLMStrategy(LLMParams()).indicators() == list(FULL_SET)
    assert LLMStrategy(LLMParams(provider="deepseek")).base_url == "https://api.deepseek.com/v1"
    with pytest.raises(ConfigError, match="temperature: Input should be less than or equal"):
        build_strategy("llm", {"temperature": 5})
    with pytest.raises(ConfigError, match="api_key: unknown parameter"):
        build_strategy("llm", {"api_key": "sk-never-in-config"})
    assert isinstance(build_strategy("llm", {"provider": "ollama"}), LLMStrategy)


async def test_anthropic_bot_end_to_end(anthropic_server, ctx_factory):
    ctx = ctx_factory()
    price = float(ctx.frames["BTC/USDT"]["close"].iloc[-1])
    anthropic_server.then(buy_btc(price)[1:])  # continues the prefilled "{"
    chunks: list[str] = []
    ctx.emit = chunks.append
    s = LLMStrategy(
        LLMParams(provider="anthropic", base_url=anthropic_server.url, model="claude-sonnet-4-5"),
        key_resolver=lambda p: f"key-{p}",
    )
    try:
        d = await s.decide(ctx)
    finally:
        await s.aclose()
    assert d.source == "llm" and d.items[0].action is Action.BUY
    assert "".join(chunks) == buy_btc(price)
    assert anthropic_server.requests[0].headers["x-api-key"] == "key-anthropic"
    assert d.meta["cost"] == (Decimal(3) * 321 + Decimal(15) * 54) / 1_000_000


async def test_trigger_on_rsi_and_ema_cross(ctx_factory, frame_factory):
    s = LLMStrategy(LLMParams(provider="offline", cadence="trigger", trigger_move_pct=50))
    f = frame_factory(120)
    ctx = ctx_factory(("BTC/USDT",), frames={"BTC/USDT": f})
    assert s.wants_decision(ctx)  # first cycle
    await s.decide(ctx)
    assert not s.wants_decision(ctx)
    oversold = f.copy()
    oversold.loc[oversold.index[-1], "rsi_14"] = 25.0
    assert s.wants_decision(ctx_factory(("BTC/USDT",), frames={"BTC/USDT": oversold}))
    assert "RSI crossed 30" in s.stats["last_trigger"]
    crossed = oversold.copy()
    last = crossed.index[-1]
    e20, e50 = crossed.loc[last, "ema_20"], crossed.loc[last, "ema_50"]
    crossed.loc[last, "ema_20"], crossed.loc[last, "ema_50"] = e50, e20  # flip the order
    assert s.wants_decision(ctx_factory(("BTC/USDT",), frames={"BTC/USDT": crossed}))
    assert "EMA20 crossed" in s.stats["last_trigger"]
    assert s.stats["calls_saved"] == 1
