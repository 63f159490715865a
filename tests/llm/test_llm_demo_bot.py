"""The demo LLM bot (app/runtime.py DEMO_BOTS): the majors BTC, ETH, SOL, BNB and XRP, every
5 minutes, with the risk defaults; its prompt names all five."""

from __future__ import annotations

from oxbot.app.runtime import demo_configs
from oxbot.engine.llm import LLMParams, LLMStrategy
from oxbot.engine.models import RiskLimits


def test_demo_llm_bot_trades_the_majors_every_five_minutes(ctx_factory):
    (llm,) = [c for c in demo_configs() if c.strategy == "llm"]
    majors = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT", "XRP/USDT")
    assert llm.symbols == majors
    assert llm.cadence_s == 300 and not llm.cron
    assert llm.risk == RiskLimits()
    user = LLMStrategy(LLMParams(**llm.params)).build(ctx_factory(majors, n=120)).user
    assert all(f"{s} price" in user for s in majors)
