"""The hostile-reply corpus (hostile_corpus.py, 180+ replies) through the real path: two PAPER
LLM bots on the sim market, built by the runtime's factory, the real LLM strategy and httpx,
to the strict fake OpenAI and Anthropic servers on 127.0.0.1 over SSE.

Printed: a table per class (replies, orders, holds counted, crashes, breaches). Asserted:
0 orders from invalid replies, 0 risk-limit breaches, 0 cycle crashes, every failure counted
and stored with its reason; every valid buy in the corpus DOES trade (the test fails both
ways); every decision is stored, however broken its reply (lone surrogates included); no key
or registered secret reaches the database or the live reasoning stream.
"""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fake_llm_server import FakeLLMServer, Reply, Seen

from oxbot.engine.messages import CycleFailed, ReasoningChunk
from oxbot.engine.models import BotConfig, BotStatus, Side
from oxbot.engine.textsafe import storable
from oxbot.storage.redact import register_secret
from oxbot.storage.store import Store

from . import hostile_corpus as hc
from .conftest import make_engine

TIME = re.compile(r"Time (\d{4}-\d\d-\d\d \d\d:\d\d) UTC")
LIMITS = {"stop_loss_pct": 50, "take_profit_pct": 1000}  # no SL/TP exit during the run
MAX_POSITION = Decimal("0.15")
MAX_EXPOSURE = Decimal("0.85")


class Scripted:
    """The server's answers: the decision a request belongs to is known by the candle time in
    its prompt (a retry and the repair re-ask carry the same), its n-th request gets the
    case's n-th reply."""

    def __init__(self, steps: list[hc.Case], prefill: bool) -> None:
        self.steps = steps
        self.prefill = prefill
        self.by_time: dict[str, int] = {}
        self.attempts: Counter[str] = Counter()

    def __call__(self, seen: Seen) -> Reply:
        when = TIME.search(seen.user_text)
        assert when, "every prompt names its candle time"
        t = when.group(1)
        idx = self.by_time.setdefault(t, len(self.by_time))
        case = self.steps[idx] if idx < len(self.steps) else hc.tail()
        n = self.attempts[t]
        self.attempts[t] += 1
        rep = case.replies[min(n, len(case.replies) - 1)]
        if self.prefill and rep.raw is None and rep.text.startswith("{"):
            rep = replace(rep, text=rep.text[1:])  # the model continues the prefilled "{"
        return rep

    def case_of(self, ts: int) -> hc.Case | None:
        idx = self.by_time.get(datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%d %H:%M"))
        return self.steps[idx] if idx is not None and idx < len(self.steps) else None


def bot(name: str, provider: str, url: str, model: str, **llm: Any) -> BotConfig:
    return BotConfig(
        name=name,
        symbols=("BTC/USDT",),
        timeframe="1m",
        strategy="llm",
        risk=LIMITS,
        # The deadline ends the stalled and endless replies; it must be far longer than a good
        # reply takes on a loaded machine (at 1.5 s, a busy CI machine once turned one good
        # reply per server into a counted failure).
        llm={"provider": provider, "base_url": url, "model": model, "timeout_s": 5, **llm},
    )


@pytest.fixture
def servers() -> Any:
    made = {
        "oa": FakeLLMServer("openai", api_key=hc.OA_KEY).start(),
        "an": FakeLLMServer("anthropic", api_key=hc.AN_KEY).start(),
        "ap": FakeLLMServer("anthropic", api_key=hc.AN_KEY).start(),
    }
    yield made
    for srv in made.values():
        srv.close()


@pytest.mark.slow
async def test_hostile_corpus_through_the_real_path(
    store: Store, tmp_path: Path, servers: Any, harness: Any, record_property: Any
) -> None:
    for secret in (hc.OA_KEY, hc.AN_KEY, hc.ECHOED_SECRET):
        register_secret(secret)  # as the keyring layer does for every key it loads
    plans = {
        "oa": Scripted(hc.schedule(hc.OPENAI_CASES), prefill=False),
        "an": Scripted(hc.schedule(hc.ANTHROPIC_CASES), prefill=False),
        "ap": Scripted(hc.schedule(hc.PREFILL_CASES), prefill=True),
    }
    configs = {
        "oa": bot("oa", "openai", servers["oa"].url, "gpt-4o-mini"),
        "an": bot(
            "an", "anthropic", servers["an"].url, "claude-haiku-4-5", anthropic_prefill=False
        ),
        "ap": bot("ap", "anthropic", servers["ap"].url, "claude-haiku-4-5"),
    }
    for name, plan in plans.items():
        servers[name].handler = plan
        await store.save_bot(configs[name], BotStatus.RUNNING)
    candles = max(len(p.steps) for p in plans.values()) + 3
    engine = make_engine(
        store, tmp_path, max_candles=candles, keys={"openai": hc.OA_KEY, "anthropic": hc.AN_KEY}
    )
    h = harness(engine)
    started = time.monotonic()
    await h.start()
    await h.finish_market(timeout=240)
    runners = {n: engine.runners[n] for n in plans}
    stats = {n: dict(r.strategy.stats) for n, r in runners.items()}
    status = {n: r.status for n, r in runners.items()}
    held = {n: "BTC/USDT" in r.portfolio.positions for n, r in runners.items()}
    await h.stop()
    elapsed = time.monotonic() - started

    rows: dict[str, Counter[str]] = defaultdict(Counter)
    problems: list[str] = []
    decided: dict[str, list[Any]] = {}
    for name, plan in plans.items():
        decisions = decided[name] = await store.recent_decisions(name, 100_000)
        fills = {f.client_order_id: f for f in await store.load_fills(name)}
        equity = await store.equity_series(name, limit=100_000)
        seen_steps: set[int] = set()
        for d in decisions:
            case = plan.case_of(d.ts)
            if case is None:
                continue  # the tail after the corpus
            seen_steps.add(id(case))
            row = rows[case.klass]
            row["replies"] += 1
            ids = [i for i in d.order_ids.split(",") if i]
            row["orders"] += len(ids)
            failed = d.source == "fallback" and bool(d.error)
            row["holds counted"] += failed
            if case.expect == hc.FAIL and (ids or not failed):
                problems.append(
                    f"{name}/{case.name}: expected a counted HOLD, got "
                    f"{d.source} {d.actions} orders={ids} error={d.error[:80]!r}"
                )
            if case.expect == hc.HOLD and (ids or failed):
                problems.append(f"{name}/{case.name}: expected a valid hold, got {d.error!r}")
            if case.expect in (hc.TRADE, "close") and (
                failed or not ids or not all(i in fills for i in ids)
            ):
                problems.append(
                    f"{name}/{case.name}: a valid {case.expect} did not trade: "
                    f"{d.error[:120]!r} {d.verdict_reasons!r}"
                )
            if d.cost < 0:
                problems.append(f"{name}/{case.name}: negative cost {d.cost}")
            if case.name.startswith(("usage-", "an-usage")) and "usage estimated" not in d.flags:
                problems.append(f"{name}/{case.name}: usage not flagged: {d.flags!r}")
            for i in ids:
                f = fills.get(i)
                if f is not None and f.side is Side.BUY:
                    eq = next((e for t, e in reversed(equity) if t <= f.ts), equity[0][1])
                    if f.qty * f.price > eq * MAX_POSITION * Decimal("1.01"):
                        row["breaches"] += 1
                        problems.append(
                            f"{name}/{case.name}: bought {f.qty * f.price} of {eq} equity"
                        )
        lost = [c.name for c in plan.steps[: len(plan.by_time)] if id(c) not in seen_steps]
        if lost:
            problems.append(f"{name}: decisions not stored for {lost}")
        if len(plan.by_time) < len(plan.steps):
            problems.append(f"{name}: the market ended before step {len(plan.by_time)}")
        fails = sum(1 for c in plan.steps if c.expect == hc.FAIL)
        if stats[name]["failures"] != fails:
            problems.append(
                f"{name}: {stats[name]['failures']} failures counted, {fails} failing replies sent"
            )
        if status[name] is not BotStatus.RUNNING or held[name] != hc.held_after(plan.steps):
            problems.append(f"{name}: ended {status[name].value}, BTC held: {held[name]}")
    for ev in h.of(CycleFailed):
        case = plans[ev.bot].case_of(ev.ts) if ev.bot in plans else None
        rows[case.klass if case else "?"]["crashes"] += 1
        problems.append(f"{ev.bot}: cycle crashed: {ev.error[:160]}")

    invalid_orders = sum(
        1
        for name, plan in plans.items()
        for d in decided[name]
        if (c := plan.case_of(d.ts)) is not None
        and c.expect != hc.TRADE
        and c.expect != "close"
        and d.order_ids
    )
    leaked = [
        s
        for s in (hc.OA_KEY, hc.AN_KEY, hc.ECHOED_SECRET)
        for p in tmp_path.rglob("*")
        if p.is_file() and s.encode() in p.read_bytes()
    ]
    streamed = "".join(ev.text for ev in h.of(ReasoningChunk))
    if storable(streamed) != streamed:  # what the cockpit prints must be printable
        problems.append("the live reasoning carried unprintable text (surrogates, controls)")
    leaked += [s for s in (hc.OA_KEY, hc.ECHOED_SECRET) if s in streamed]
    if leaked:
        problems.append(f"secrets stored or streamed: {sorted(set(leaked))}")

    cols = ("replies", "orders", "holds counted", "crashes", "breaches")
    lines = [f"{'class':<30}" + "".join(f"{c:>15}" for c in cols)]
    for klass in sorted(rows):
        lines.append(f"{klass:<30}" + "".join(f"{rows[klass][c]:>15}" for c in cols))
    total = Counter()
    for row in rows.values():
        total.update(row)
    lines.append(f"{'TOTAL':<30}" + "".join(f"{total[c]:>15}" for c in cols))
    requests = ", ".join(f"{n} {len(srv.requests)}" for n, srv in servers.items())
    refused = sum(len(srv.refused) for srv in servers.values())
    lines.append(
        f"{len(hc.ALL_CASES)} hostile replies, {sum(len(p.steps) for p in plans.values())}"
        f" decisions in {elapsed:.1f} s; orders from invalid replies: {invalid_orders};"
        f" requests: {requests}; refused by the strict servers: {refused}"
    )
    record_property("figures", "hostile LLM replies through the real path\n" + "\n".join(lines))
    assert not problems, "\n".join(problems[:40])
    assert len(hc.ALL_CASES) >= 150 and total["replies"] >= len(hc.ALL_CASES)
    assert invalid_orders == total["crashes"] == total["breaches"] == 0
    assert refused == 0  # oxbot's requests pass the strict checks
