"""Issue 11 section 2, one defect per test, each through the real path: a PAPER LLM bot on the
sim market, the runtime's LLMStrategy, httpx, the strict fake OpenAI-compatible server.

Each test failed on the code before the fix (noted per test)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fake_llm_server import FakeLLMServer

from oxbot.engine.messages import AddBot, CycleFailed, OrderFilled
from oxbot.engine.models import BotStatus
from oxbot.storage.store import Store

from .conftest import Reply, call, llm_bot, make_engine, reply

BTC, ETH = "BTC/USDT", "ETH/USDT"
BUY = reply(call(BTC, "buy", 10), call(ETH, "hold"))
HOLDS = reply(call(BTC, "hold"), call(ETH, "hold"))


async def run_bot(
    store: Store, tmp_path: Path, harness: Any, fake: FakeLLMServer, candles: int = 8, **llm: Any
) -> tuple[Any, Any]:
    """Run one paper LLM bot (stored running) over ``candles`` candles; (harness, runner)."""
    await store.save_bot(llm_bot("b", fake.url, **llm), BotStatus.RUNNING)
    engine = make_engine(store, tmp_path, max_candles=candles)
    h = harness(engine)
    await h.start()
    await h.finish_market(timeout=60)
    runner = engine.runners["b"]
    await h.stop()
    return h, runner


HOSTILE = {
    # old: the example inside prose was executed (a 100 % buy, clamped to 15 %)
    "prose-quoting-an-example": Reply(
        f"... a buy would look like {json.dumps(call(BTC, 'buy', 100))} but I am not doing that"
    ),
    # old: the draft inside the unclosed <think> of a reply cut at max_tokens was executed
    "unclosed-think-cut-off": Reply("<think>the plan: " + BUY, finish="length"),
    # old: NaN and "none" became null, and null meant the largest position allowed
    "nan-size": Reply(BUY.replace('"size_pct": 10', '"size_pct": NaN')),
    "none-size": Reply(BUY.replace('"size_pct": 10', '"size_pct": "none"')),
    # old: the first of two objects won
    "two-objects": Reply(BUY + "\ncorrection, final answer: " + HOLDS),
    # old: read as a finished reply
    "stream-without-finish-reason": Reply(BUY, finish=None),
}


@pytest.mark.parametrize("case", list(HOSTILE))
async def test_a_reply_that_is_not_one_finished_decision_never_trades(
    case: str, store: Store, tmp_path: Path, fake_llm: Any, harness: Any
) -> None:
    fake_llm.handler = lambda _seen: HOSTILE[case]
    h, runner = await run_bot(store, tmp_path, harness, fake_llm)
    rows = await store.recent_decisions("b", 100)
    assert rows and not h.of(OrderFilled) and not await store.load_fills("b")
    assert all(r.source == "fallback" and r.error and not r.order_ids for r in rows)
    assert runner.strategy.stats["failures"] == len(rows) == runner.strategy.stats["decisions"]


MALFORMED = [
    # old: AttributeError / TypeError / ValueError out of the stream reader: a crashed cycle,
    # and after 20 of them the bot in "error"
    ['data: {"choices": ["x"]}\n\n', "data: [DONE]\n\n"],
    ['data: {"choices": [{"index": 0, "delta": "abc"}]}\n\n', "data: [DONE]\n\n"],
    [
        'data: {"choices": [{"index": 0, "delta": {"content": "'
        + BUY.replace('"', '\\"')
        + '"}, "finish_reason": "stop"}]}\n\n',
        'data: {"choices": [], "usage": {"prompt_tokens": 900, "completion_tokens": "n/a"}}\n\n',
        "data: [DONE]\n\n",
    ],
]


async def test_malformed_stream_fields_are_counted_never_crash_the_cycle(
    store: Store, tmp_path: Path, fake_llm: Any, harness: Any
) -> None:
    n = {"i": 0}

    def handler(seen: Any) -> Reply:
        if not seen.is_repair:
            n["i"] += 1
        return Reply(raw=MALFORMED[n["i"] % 3])

    fake_llm.handler = handler
    h, runner = await run_bot(store, tmp_path, harness, fake_llm, candles=24)
    rows = await store.recent_decisions("b", 100)
    assert not h.of(CycleFailed) and runner.status is BotStatus.RUNNING
    assert len(rows) == runner.strategy.stats["decisions"] >= 22
    # Two of three are broken streams; the third is a valid buy whose usage is nonsense:
    # it is a decision (the first one trades; later ones meet the position limit), with the
    # usage replaced by an estimate and flagged.
    usage_rows = [r for r in rows if r.source == "llm"]
    assert usage_rows and usage_rows[0].order_ids
    assert all(
        r.error == "" and r.tokens_out > 0 and "completion tokens 'n/a'" in r.flags
        for r in usage_rows
    )
    failed = [r for r in rows if r.error]
    assert len(failed) == runner.strategy.stats["failures"] == len(rows) - len(usage_rows)
    assert all("was not used" in r.error for r in failed)
    # The broken streams were answered (HTTP 200) to a request that went out: billed by a
    # provider, so charged (an estimate of the prompt) and flagged.
    assert all(
        r.cost > 0 and r.tokens_in > 0 and "charged for a failed call" in r.flags for r in failed
    )


async def test_a_lone_surrogate_in_a_reply_loses_nothing(
    store: Store, tmp_path: Path, fake_llm: Any, harness: Any
) -> None:
    # A stream event whose content is "\ud800" (a JSON escape, legal on the wire) puts a lone
    # surrogate inside the reply's reasoning. old: the text could not be written to SQLite -
    # the cycle failed and the decision (tokens, spend) was lost. Now the text is made
    # storable before anything is built from it: the buy trades and everything is stored.
    cut = BUY.index('"scripted"') + len('"scrip')
    events = [BUY[:cut], "\ud800", BUY[cut:]]
    raw = [
        'data: {"choices": [{"index": 0, "delta": {"content": '
        + json.dumps(e)
        + '}, "finish_reason": null}]}\n\n'
        for e in events
    ]
    raw += [
        'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\n\n',
        'data: {"choices": [], "usage": {"prompt_tokens": 900, "completion_tokens": 60}}\n\n',
        "data: [DONE]\n\n",
    ]
    assert '"content": "\\ud800"' in raw[1]
    sent = {"buy": False}

    def handler(seen: Any) -> Reply:
        if sent["buy"]:
            return Reply(HOLDS)
        sent["buy"] = True
        return Reply(raw=raw)

    fake_llm.handler = handler
    h, runner = await run_bot(store, tmp_path, harness, fake_llm, candles=4)
    assert not h.of(CycleFailed)
    rows = await store.recent_decisions("b", 100)
    buy = rows[0]
    assert buy.order_ids and buy.error == "" and buy.cost > 0
    assert "\ufffd" in buy.raw_reply and "scrip\ufffdted" in buy.parsed
    fills = await store.load_fills("b")
    assert [f.client_order_id for f in fills] == [buy.order_ids]
    assert BTC in await store.load_positions("b")
    stats = await store.decision_stats("b")
    assert stats["cost"] == sum(r.cost for r in rows) > 0


async def test_negative_usage_cannot_defeat_the_budget(
    store: Store, tmp_path: Path, fake_llm: Any, harness: Any
) -> None:
    # old: -5,000,000 tokens per call cost -$15: the spend went down and the budget never
    # stopped the bot (every candle made a call).
    fake_llm.handler = lambda _s: Reply(HOLDS, usage=(-5_000_000, -5_000_000))
    h, runner = await run_bot(
        store, tmp_path, harness, fake_llm, candles=20, daily_budget_usd="0.004"
    )
    rows = await store.recent_decisions("b", 100)
    assert rows and all(r.cost > 0 and r.tokens_in > 0 and "implausible" in r.flags for r in rows)
    per_call = rows[0].cost
    allowed = next(n for n in range(1, 100) if n * per_call >= Decimal("0.004"))
    assert len(fake_llm.requests) <= allowed + 1 < 20
    assert runner.status is BotStatus.PAUSED


async def test_a_budget_needs_a_price_and_an_unpriced_model_says_so(
    store: Store, tmp_path: Path, fake_llm: Any, harness: Any
) -> None:
    engine = make_engine(store, tmp_path, max_candles=3)
    h = harness(engine)
    await h.start()
    cfg = llm_bot("b", fake_llm.url, model="local-model", daily_budget_usd="0.5")
    done = await h.do(AddBot(config=cfg))
    # old: accepted; every call cost $0 and the budget did nothing
    assert (
        not done.ok
        and "daily_budget_usd needs the price of model 'local-model'" in done.message
        and "prices=" in done.message
    )
    assert "b" not in engine.runners and not await store.load_bots()
    done = await h.do(AddBot(config=llm_bot("b", fake_llm.url, model="local-model")))
    assert done.ok
    from oxbot.tui.widgets.bots_table import llm_cell  # noqa: PLC0415

    view = engine.runners["b"].view()
    assert llm_cell(view.llm).startswith("unpriced / ")
    done = await h.do(
        AddBot(
            config=llm_bot(
                "c",
                fake_llm.url,
                model="local-model",
                daily_budget_usd="0.5",
                prices={"local-model": ["0.1", "0.2"]},
            )
        )
    )
    assert done.ok
    await h.stop()
