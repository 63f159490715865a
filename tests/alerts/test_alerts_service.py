"""The alert service on a real event bus, delivering through apprise to a local webhook
(tests/alerts/alerts_webhook.py says what apprise POSTs and where that was read): fills and
PANIC arrive, a burst is summarised within the rate limit, a failing webhook is retried and
then reported as a Notice, and a webhook that never answers blocks neither the bus nor the
stop."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path

import pytest
from module_loading import load_by_path
from waiting import wait_for

from oxbot.app import alerts
from oxbot.app.alerts import AlertService, Route, alert_of, check_url, summary
from oxbot.engine.bus import EventBus
from oxbot.engine.messages import (
    CommandDone,
    CycleFailed,
    EngineStateChanged,
    Notice,
    OrderFilled,
)
from oxbot.storage.settings import ALERT_EVENTS

hooks = load_by_path("alerts_webhook", Path(__file__).resolve().parent / "alerts_webhook.py")


def fill(i: int, reason: str = "entry") -> OrderFilled:
    return OrderFilled(
        ts=i,
        bot="b1",
        symbol="BTC/USDT",
        side="buy",
        qty=Decimal("0.01"),
        price=Decimal(60000 + i),
        reason=reason,
    )


def route(url: str, per_minute: int = 6, events: tuple[str, ...] = ALERT_EVENTS) -> Route:
    return Route("hook", frozenset(events), per_minute, lambda: url)


@pytest.fixture
def webhook():
    hook = hooks.Webhook()
    yield hook
    hook.close()


def test_events_map_to_alert_kinds():
    assert alert_of(fill(1)).kind == "fill"
    assert alert_of(fill(1, "stop_loss")).kind == "sl_tp"
    assert "take-profit" in alert_of(fill(1, "take_profit")).text
    assert alert_of(CycleFailed(bot="b1", error="boom", consecutive=1)).kind == "error"
    assert alert_of(CycleFailed(bot="b1", error="boom", consecutive=2)) is None
    assert alert_of(CommandDone(command="PanicAll", message="3 bots stopped")).kind == "panic"
    assert alert_of(EngineStateChanged(state="stopped")).kind == "engine_stopped"
    assert alert_of(EngineStateChanged(state="running")) is None
    # the texts of engine/bot.py _budget_pause / _budget_resume and engine/llm/strategy.py
    budget = Notice(
        level="warning",
        message="llm1 paused: bot llm1 reached its daily LLM budget ($1.0000 of $1); it "
        "decides again after 00:00 UTC, or raise daily_budget_usd",
    )
    assert alert_of(budget).kind == "budget"
    resumed = "llm1 resumed: a new UTC day, its daily LLM budget is available again"
    assert alert_of(Notice(level="info", message=resumed)) is None
    assert alert_of(Notice(level="warning", message="alerts: hook failed")) is None


def test_summary_counts_kinds_and_keeps_the_newest_lines():
    burst = [alert_of(fill(i)) for i in range(12)] + [alert_of(fill(99, "stop_loss"))]
    text = summary(burst)
    assert text.startswith("12 fills, 1 stop-loss/take-profit exit since the last message:")
    assert "@ 60099" in text and "@ 60000 " not in text and "3 more not shown" in text
    panic = alert_of(CommandDone(command="PanicAll", message="all flat"))
    text = summary([panic] + burst)
    assert text.startswith("1 PANIC, 12 fills, 1 stop-loss/take-profit exit since")
    assert text.splitlines()[1] == "PANIC: all flat"  # older than the newest lines, still shown
    assert text.splitlines()[2] == "... 3 more not shown"


def test_a_bad_url_names_apprise_schemes():
    why = check_url("nosuchservice://abc")
    assert "not an apprise URL" in why and "tgram" in why and "ntfy" in why and "json" in why
    assert check_url("json://127.0.0.1:9/x") == ""


async def test_fills_and_panic_reach_the_webhook_rate_limited(webhook):
    fast = hooks.Webhook()  # a route without a real limit: the later fact the test waits for
    try:
        bus = EventBus()
        svc = AlertService(
            bus,
            [
                route(webhook.url, per_minute=1),
                Route("fast", frozenset({"engine_stopped"}), 120, lambda: fast.url),
            ],
        )
        await svc.start()
        bus.publish(fill(0))
        await wait_for(lambda: len(webhook.posts) == 1, 10, "the first fill")
        for i in range(1, 61):
            bus.publish(fill(i))
        bus.publish(CommandDone(command="PanicAll", message="every bot stopped"))
        bus.publish(EngineStateChanged(state="stopped"))
        await wait_for(lambda: len(fast.posts) == 1, 10, "the other route's alert")
        assert len(webhook.posts) == 1  # the limit of 1 a minute holds while the service runs
        await svc.close()  # the stopping engine flushes what waits, in one summary
    finally:
        fast.close()
    assert len(webhook.posts) == 2
    first = webhook.posts[0]
    assert first["title"] == "oxbot" and first["type"] == "info" and first["version"] == "1.0"
    assert webhook.paths[0] == "/hook"
    assert first["message"] == "b1: buy 0.01 BTC/USDT @ 60000 (entry)"
    burst = webhook.posts[1]["message"]
    assert burst.startswith("60 fills, 1 PANIC, 1 engine stop since the last message:\n")
    assert "PANIC: every bot stopped" in burst and "52 more not shown" in burst
    assert fast.messages() == ["engine stopped"]
    assert svc.routes[0].delivered == 63 and svc.routes[0].messages == 2


async def test_only_the_chosen_events_go_to_a_route(webhook):
    bus = EventBus()
    svc = AlertService(bus, [route(webhook.url, events=("panic",))])
    await svc.start()
    bus.publish(fill(1))
    bus.publish(CommandDone(command="PanicAll", message="done"))
    await wait_for(lambda: len(webhook.posts) == 1, 10, "len(webhook.posts) == 1")
    await svc.close()
    assert webhook.messages() == ["PANIC: done"]


async def test_failures_are_retried_then_reported_as_a_notice(webhook, monkeypatch):
    monkeypatch.setattr(alerts, "BACKOFF_S", 0.05)
    webhook.status = 500
    bus = EventBus()
    notices = bus.subscribe(accept=lambda ev: isinstance(ev, Notice))
    svc = AlertService(bus, [route(webhook.url)])
    await svc.start()
    bus.publish(fill(1))
    notice = await asyncio.wait_for(notices.get(), 10)
    assert notice.level == "warning" and notice.message.startswith("alerts: hook: 3 deliveries")
    await wait_for(
        lambda: svc.routes[0].failed == 1, 10, "svc.routes[0].failed == 1"
    )  # 1 + RETRIES attempts, then dropped
    assert len(webhook.posts) == 1 + alerts.RETRIES
    webhook.status = 200
    bus.publish(fill(2))
    await wait_for(
        lambda: len(webhook.posts) == 2 + alerts.RETRIES,
        10,
        "len(webhook.posts) == 2 + alerts.RETRIES",
    )
    await svc.close()


async def test_a_full_queue_drops_the_oldest_and_counts(webhook, monkeypatch):
    monkeypatch.setattr(alerts, "QUEUE_MAX", 5)
    bus = EventBus()
    svc = AlertService(bus, [Route("hook", frozenset(ALERT_EVENTS), 1, lambda: None)])
    # not started: nothing delivers, the queue only fills
    for i in range(8):
        svc.offer(fill(i))
    assert svc.routes[0].dropped == 3
    assert [a.text.split("@ ")[1][:5] for a in svc.routes[0].pending][0] == "60003"


async def test_a_full_queue_keeps_panic_and_errors_and_the_next_message_counts_the_dropped(
    monkeypatch,
):
    """At max speed fills flood the queue: a PANIC or an error queued among them is never the
    one dropped, and the next message says how many were dropped (it used to say "500 fills"
    after 2,582 were dropped: adversary of issue 14, AL1)."""
    monkeypatch.setattr(alerts, "QUEUE_MAX", 5)
    bus = EventBus()
    svc = AlertService(bus, [Route("hook", frozenset(ALERT_EVENTS), 1, lambda: None)])
    svc.offer(fill(0))
    svc.offer(CommandDone(1, command="PanicAll", ok=True, message="2 bots stopped"))
    for i in range(1, 20):
        svc.offer(fill(i))
    r = svc.routes[0]
    kinds = [a.kind for a in r.pending]
    assert kinds.count("panic") == 1 and len(kinds) == 5
    assert r.dropped == 16 and r.dropped_kinds == {"fill": 16}
    text = summary(list(r.pending), r.dropped_kinds)
    assert text.startswith("20 fills, 1 PANIC") or text.startswith("1 PANIC"), text
    assert "(16 of them dropped: the queue was full)" in text.splitlines()[0]
    assert "PANIC: 2 bots stopped" in text


async def test_a_hanging_webhook_blocks_neither_the_bus_nor_the_stop():
    hang = hooks.HangingHook()
    try:
        bus = EventBus()
        svc = AlertService(bus, [route(hang.url, per_minute=100)], flush_s=1.0)
        await svc.start()
        started = time.monotonic()
        for i in range(2000):
            bus.publish(fill(i))
        publishing = time.monotonic() - started
        await wait_for(
            lambda: hang.accepted, 10, "hang.accepted"
        )  # a delivery is stuck in the server
        stopping = time.monotonic()
        await svc.close()
        stopped_in = time.monotonic() - stopping
        assert publishing < 1.0, publishing  # 2000 events: formatting only, no I/O
        assert stopped_in < 1.5, stopped_in  # flush_s, then the stuck thread is left behind
        assert svc.routes[0].delivered == 0
    finally:
        hang.close()
