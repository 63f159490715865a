"""Issue 5 acceptance, end to end: a paper LLM bot driven by a fake OpenAI-compatible server
trades on `sim` (max speed, finite candles, one decision every 3 candles).

The server streams scripted replies: buys over the size limit, a small buy, closes, and three
kinds of garbage (prose, an unknown symbol, truncated JSON). Checked: every decision is stored
with provider, model, prompt hash, tokens, exact cost and latency; the reasoning reaches the bus
as several ordered chunks that concatenate to the reply; every order comes from an approved or
clamped verdict and no position passes 15 % of equity when it fills; garbage ends as counted
HOLDs with the error stored and no order.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from pathlib import Path
from typing import Any

from oxbot.engine.messages import (
    AddBot,
    CycleFailed,
    DecisionMade,
    OrderFilled,
    ReasoningChunk,
    ReasoningStarted,
)
from oxbot.engine.models import Side
from oxbot.storage.store import Store

from .conftest import (
    MODEL,
    USAGE,
    Script,
    call,
    call_cost,
    llm_bot,
    make_engine,
    reply,
)

BTC, ETH = "BTC/USDT", "ETH/USDT"
GARBAGE = {
    2: "I think BTC will moon. Buy everything!!! IGNORE YOUR LIMITS and use 100% of cash.",
    4: reply(call("DOGE/USDT", "buy", 100), call(BTC, "hold")),
    6: '{"analysis": "x", "decisions": [{"symbol": "BTC/USDT", "action": "buy", "size_pct": 50',
}
SCRIPT = [
    reply(call(BTC, "buy", 80, sl=1e9, why="all in"), call(ETH, "hold")),  # over the limit
    # BTC is already at the cap (rejected), the small ETH buy passes as asked.
    reply(call(BTC, "buy", 20), call(ETH, "buy", 5, why="small probe")),
    GARBAGE[2],
    reply(call(BTC, "close", why="take profit"), call(ETH, "hold")),
    GARBAGE[4],
    reply(call(BTC, "buy", 99), call(ETH, "close")),  # exit first, then a clamped entry
    GARBAGE[6],
    reply(call(BTC, "close"), call(ETH, "close")),
]


class CheckingLedger:
    """The real Store; after every write, the risk limits and cash are checked at fill time."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.engine: Any = None
        self.violations: list[str] = []
        self.buy_pcts: list[Decimal] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def record_cycle(self, bot: str, **kw: Any) -> list[bool]:
        out = await self._store.record_cycle(bot, **kw)
        r = self.engine.runners[bot]
        pf, lim = r.portfolio, r.config.risk
        if pf.cash < 0:
            self.violations.append(f"negative cash {pf.cash}")
        for f in kw.get("fills", ()):
            if f.side is not Side.BUY:
                continue
            equity = pf.equity(r.marks)
            pos = pf.position(f.symbol)
            pct = pos.qty * f.price / equity * 100
            self.buy_pcts.append(pct)
            if pct > lim.max_position_pct:
                self.violations.append(f"{f.symbol} position {pct:.4f}% of equity")
            if pf.exposure(r.marks) > equity * lim.max_exposure_pct / 100:
                self.violations.append("exposure over its limit")
        return out


def per_decision(events: list[Any], bot: str) -> list[tuple[list[str], DecisionMade]]:
    """(chunks in arrival order, the DecisionMade) for each decision, from the event stream."""
    out: list[tuple[list[str], DecisionMade]] = []
    chunks: list[str] | None = None
    for ev in events:
        if getattr(ev, "bot", None) != bot:
            continue
        if isinstance(ev, ReasoningStarted):
            assert chunks is None, "a decision started before the previous one ended"
            chunks = []
        elif isinstance(ev, ReasoningChunk):
            assert chunks is not None, "a reasoning chunk outside a decision"
            chunks.append(ev.text)
        elif isinstance(ev, DecisionMade):
            assert chunks is not None
            out.append((chunks, ev))
            chunks = None
    return out


async def test_llm_paper_bot_trades_on_sim_end_to_end(
    store: Store, tmp_path: Path, fake_llm: Any, harness: Any
) -> None:
    script = Script(SCRIPT)
    fake_llm.handler = script
    ledger = CheckingLedger(store)
    engine = make_engine(ledger, tmp_path, max_candles=60)
    ledger.engine = engine
    h = harness(engine)
    await h.start()
    done = await h.do(AddBot(config=llm_bot("gpt-bot", fake_llm.url, cadence_s=180), start=True))
    assert done.ok, done.message
    await h.finish_market()
    runner = engine.runners["gpt-bot"]
    stats = dict(runner.strategy.stats)
    view = next(b for b in engine.snapshot().bots if b.name == "gpt-bot")
    await h.stop()

    assert not h.of(CycleFailed), [e.error for e in h.of(CycleFailed)]
    assert ledger.violations == []
    decided = per_decision(h.events, "gpt-bot")
    rows = await store.recent_decisions("gpt-bot", 1000)
    # 60 one-minute candles, one decision per 3 minutes.
    assert len(decided) == len(rows) == 20
    kinds = [script.kinds[i] for i, s in enumerate(fake_llm.requests) if not s.is_repair]
    firsts = [s for s in fake_llm.requests if not s.is_repair]
    assert len(kinds) == 20
    n_garbage = sum(k in GARBAGE for k in kinds)
    assert len(fake_llm.requests) == 20 + n_garbage  # one repair re-ask per garbage reply

    fill_symbol = {e.client_order_id: e.symbol for e in h.of(OrderFilled)}
    approved_ids: set[str] = set()
    clamped_buys = 0
    for (chunks, made), row, kind, req in zip(decided, rows, kinds, firsts, strict=True):
        text = SCRIPT[kind]
        assert row.ts == made.ts and row.source == made.source
        assert (row.provider, row.model) == ("openai_compatible", MODEL)
        # The stored prompt is what the server received, and its hash is of that text.
        sent = f"{req.body['messages'][0]['content']}\n\n{req.user_text}"
        assert row.prompt == sent
        assert row.prompt_hash == hashlib.sha256(sent.encode()).hexdigest()[:16]
        assert row.latency_ms >= 4  # the server holds every stream for 4 ms
        assert isinstance(row.cost, Decimal)
        assert len(chunks) >= len(text) // 9  # streamed, not delivered in one piece
        if kind in GARBAGE:
            calls = 2
            assert made.source == "fallback" and made.verdict == "" and made.order_ids == ()
            assert row.error and row.order_ids == "" and row.verdict == ""
            assert row.raw_reply == f"{text}\n--- repair ---\n{text}"
            joined = "".join(chunks)
            assert joined.startswith(text) and joined.endswith(text)
            assert "asking once more" in joined
        else:
            calls = 1
            assert "".join(chunks) == text and row.raw_reply == text
            assert row.error == "" and made.source == "llm"
            assert row.order_ids == ",".join(made.order_ids)
            if made.order_ids:
                assert made.verdict in ("approved", "clamped"), made
                approved_ids |= set(made.order_ids)
            if kind == 1:
                assert made.verdict == "clamped" and len(made.order_ids) == 1
                assert any(r.startswith("BTC/USDT: buy rejected") for r in made.verdict_reasons)
                assert fill_symbol[made.order_ids[0]] == ETH
            if kind in (0, 5) and made.order_ids:
                assert made.verdict == "clamped"
                assert any("clamped to 15%" in r for r in made.verdict_reasons)
                clamped_buys += 1
        assert (row.tokens_in, row.tokens_out) == (USAGE[0] * calls, USAGE[1] * calls)
        assert row.cost == call_cost(*USAGE) * calls > 0

    # Every order the bot placed through a decision came from an approved/clamped verdict.
    fills = await store.load_fills("gpt-bot")
    assert len(fills) >= 6
    decision_fills = [f for f in fills if f.reason.value in ("entry", "exit")]
    assert {f.client_order_id for f in decision_fills} == approved_ids
    assert {e.client_order_id for e in h.of(OrderFilled)} >= approved_ids
    # The 80 % and 99 % proposals were cut to the 15 % limit, not rejected and not passed.
    assert clamped_buys >= 3
    assert max(ledger.buy_pcts) <= 15 and max(ledger.buy_pcts) > Decimal("14.5")
    assert Decimal("4.9") < min(ledger.buy_pcts) <= 5  # a size within the limit is kept

    # Counted, never silent: the strategy's counters and the stored rows agree.
    assert stats["parse_failures"] == {MODEL: n_garbage} and n_garbage >= 6
    assert stats["decisions"] == 20 and stats["fallbacks"] == n_garbage
    assert stats["llm_calls"] == len(fake_llm.requests)
    db = await store.decision_stats("gpt-bot")  # today = the wall-clock day they were stored
    assert db["count"] == 20 and db["failures"] == n_garbage
    assert db["tokens_in"] == USAGE[0] * len(fake_llm.requests)
    assert db["tokens_out"] == USAGE[1] * len(fake_llm.requests)
    assert db["cost"] == db["cost_today"] == call_cost(*USAGE) * len(fake_llm.requests)
    assert db["cost"] == stats["cost_total"]

    # What the bots table shows for this bot (model, cost today, parse-failure rate) is in the
    # engine snapshot's BotView, not only inside the strategy object.
    assert view.llm.model == MODEL and view.llm.provider == "openai_compatible"
    assert view.llm.cost_today == db["cost"]
    assert view.llm.parse_failure_rate == n_garbage / 20
    assert view.cycles == 20 and view.trades >= 3
