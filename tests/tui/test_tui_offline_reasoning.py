"""The offline rules' reasoning (what the Reasoning panel shows for the demo's LLM bot) names
each vote with its value, so two cycles with different markets read differently."""

from __future__ import annotations

import json

from oxbot.engine.llm.facts import SymbolFacts, TfFacts
from oxbot.engine.llm.offline import LABEL, OfflineFacts, write_reply


def _facts(rsi: float, hist: float, close: float) -> SymbolFacts:
    tf = TfFacts(
        "1m",
        {
            "ema_20": 101.5,
            "ema_50": 100.25,
            "rsi_14": rsi,
            "macd_hist": hist,
            "bb_lower_20": 95.0,
            "bb_upper_20": 105.0,
            "close": close,
        },
    )
    return SymbolFacts("BTC/USDT", close, [close], 0.1, 95.0, 105.0, [tf])


def _analysis(f: SymbolFacts) -> str:
    _thought, reply = write_reply(OfflineFacts([f]))
    return json.loads(reply)["analysis"]


def test_offline_analysis_carries_votes_and_values():
    text = _analysis(_facts(rsi=25.4, hist=0.42, close=95.5))
    assert text.startswith(LABEL)
    assert "BTC/USDT BUY" in text and "score +4" in text
    assert "101.5 vs 100.25" in text  # the EMA values behind the trend vote
    assert "+1 RSI 25.4 oversold" in text and "+1 MACD histogram 0.42" in text
    assert "Bollinger position 5%" in text
    other = _analysis(_facts(rsi=55.0, hist=-0.3, close=100.0))
    assert other != text and "RSI 55 neutral" in other and "-1 MACD histogram -0.3" in other
