"""The prompt shows every indicator the hub computes for an LLM bot (engine/market/indicators.py
FULL_SET): SMA, Stochastic and OBV too, which were computed but never shown; a higher
timeframe computed without them (facts.HTF_SPECS) shows none of them rather than "n/a"."""

from __future__ import annotations

from oxbot.engine.llm import LLMParams, LLMStrategy
from oxbot.engine.llm.facts import num
from oxbot.engine.market.indicators import FULL_SET


def test_sma_stochastic_and_obv_are_shown(ctx_factory, symbols5):
    ctx = ctx_factory(symbols5, n=300)
    user = LLMStrategy(LLMParams()).build(ctx).user
    for s in symbols5:
        f = ctx.frames[s]
        last = {c: float(f[c].iloc[-1]) for c in ("sma_20", "stoch_k", "stoch_d", "obv")}
        block = user.split(f"{s} price", 1)[1].split("\n\n", 1)[0]
        line = next(ln for ln in block.splitlines() if ln.startswith("1m: "))
        assert f"sma20 {num(last['sma_20'])}" in line, line
        assert f"stoch {num(last['stoch_k'], 3)}/{num(last['stoch_d'], 3)}" in line, line
        assert f"obv {num(last['obv'], 4)}" in line, line
        htf = next(ln for ln in block.splitlines() if ln.startswith("15m: "))
        assert "sma20" not in htf and "stoch" not in htf and "obv" not in htf


def test_every_indicator_column_of_the_full_set_reaches_the_prompt(ctx_factory):
    ctx = ctx_factory(("BTC/USDT",), n=300)
    user = LLMStrategy(LLMParams()).build(ctx).user
    line = next(ln for ln in user.splitlines() if ln.startswith("1m: "))
    shown = {
        "ema": "ema",
        "sma": "sma20",
        "rsi": "rsi",
        "macd": "macd",
        "bbands": "bb ",
        "atr": "atr",
        "adx": "adx",
        "stoch": "stoch",
        "obv": "obv",
    }
    assert {spec.name for spec in FULL_SET} == set(shown)
    for word in shown.values():
        assert word in line, (word, line)
