"""How a stored decision becomes the decision replayed (engine/backtest/replay.py
``stored_items``): an LLM decision's size and stops come from its stored ``parsed`` reply (the
JSON engine/llm/decision.py stores: ``DecisionReply.model_dump_json()``), with the same drops as
``to_decision``; a rule's buys carry no size."""

from __future__ import annotations

import json
from decimal import Decimal

from oxbot.engine.backtest.replay import stored_items
from oxbot.engine.llm.decision import parse_reply
from oxbot.engine.models import Action, DecisionRecord


def record(actions: str, parsed: str = "", source: str = "llm") -> DecisionRecord:
    return DecisionRecord("b", 1, source, actions, parsed=parsed)


def test_llm_buy_takes_the_models_size_and_stops() -> None:
    reply = parse_reply(
        json.dumps(
            {
                "analysis": "x",
                "decisions": [
                    {
                        "symbol": "BTC/USDT",
                        "action": "buy",
                        "size_pct": 7.5,
                        "stop_loss": 95,
                        "take_profit": 110,
                        "confidence": 0.5,
                        "reasoning": "r",
                    },
                    {"symbol": "ETH/USDT", "action": "hold", "reasoning": "r"},
                ],
            }
        ),
        ["BTC/USDT", "ETH/USDT"],
    )
    assert reply.reply is not None, reply.error
    parsed = reply.reply.model_dump_json()  # what the engine stores
    items = stored_items(record("BTC/USDT:buy ETH/USDT:hold", parsed), {"BTC/USDT": Decimal(100)})
    btc, eth = items
    assert (btc.action, btc.size_pct, btc.stop_loss, btc.take_profit) == (
        Action.BUY,
        Decimal("7.5"),
        Decimal(95),
        Decimal(110),
    )
    assert eth.action is Action.HOLD and eth.size_pct is None


def test_a_stop_above_the_price_is_dropped_as_live() -> None:
    parsed = json.dumps(
        {
            "decisions": [
                {"symbol": "BTC/USDT", "action": "buy", "stop_loss": 120, "take_profit": 90}
            ]
        }
    )
    (btc,) = stored_items(record("BTC/USDT:buy", parsed), {"BTC/USDT": Decimal(100)})
    assert btc.stop_loss is None and btc.take_profit is None and btc.size_pct is None


def test_rule_and_failed_replies_take_the_actions_alone() -> None:
    (a, b) = stored_items(record("BTC/USDT:buy ETH/USDT:close", source="rule"), {})
    assert (a.action, b.action) == (Action.BUY, Action.CLOSE)
    assert a.size_pct is None
    (c,) = stored_items(record("BTC/USDT:hold", "null", "fallback"), {})
    assert c.action is Action.HOLD
