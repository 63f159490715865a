"""The cockpit's host (the engine on a thread of this process, app/inprocess.py) built by the
composition root with alerts: PANIC and the engine stopping reach the local webhook, and a
delivery that keeps failing comes back to the display as a warning Notice (the cockpit shows
Notices as toasts, tui/state.py)."""

from __future__ import annotations

import queue
from pathlib import Path

from module_loading import load_by_path
from waiting import wait_until

from oxbot.app import alerts
from oxbot.app.alerts import Route
from oxbot.app.inprocess import InProcessClient
from oxbot.app.runtime import RuntimeOptions, build_engine
from oxbot.engine.market.sim import SimConfig
from oxbot.engine.messages import Notice, PanicAll
from oxbot.storage.settings import ALERT_EVENTS

hooks = load_by_path("alerts_webhook", Path(__file__).resolve().parent / "alerts_webhook.py")


def _client(tmp_path: Path, url: str) -> InProcessClient:
    opts = RuntimeOptions(
        db_path=tmp_path / "alerts.db",
        sim=SimConfig(speed=None, max_candles=50),
        snapshot_every_s=None,
        alerts=[Route("hook", frozenset(ALERT_EVENTS), 60, lambda: url)],
    )
    return InProcessClient(lambda: build_engine(opts))


def test_the_inprocess_engine_sends_panic_and_its_stop(tmp_path):
    hook = hooks.Webhook()
    client = _client(tmp_path, hook.url)
    try:
        client.start(lambda ev: None)
        client.submit(PanicAll(request_id="p1"))
        wait_until(lambda: any("PANIC" in m for m in hook.messages()), 20, "the PANIC alert")
        client.stop()
        wait_until(
            lambda: any(m.endswith("engine stopped") for m in hook.messages()),
            10,
            "the engine-stopped alert",
        )
    finally:
        client.stop()
        hook.close()


def test_repeated_failures_reach_the_display_as_a_notice(tmp_path, monkeypatch):
    monkeypatch.setattr(alerts, "BACKOFF_S", 0.05)
    hook = hooks.Webhook(status=500)
    client = _client(tmp_path, hook.url)
    events: queue.Queue[object] = queue.Queue()
    seen: list[Notice] = []

    def notices() -> bool:
        while not events.empty():
            ev = events.get()
            if isinstance(ev, Notice) and ev.message.startswith("alerts:"):
                seen.append(ev)
        return bool(seen)

    try:
        client.start(events.put)
        client.submit(PanicAll(request_id="p1"))
        wait_until(notices, 20, "the alert-failure notice")
        assert seen[0].level == "warning" and "hook: 3 deliveries failed" in seen[0].message
        assert "500" in seen[0].message
    finally:
        client.stop()
        hook.close()
