"""Alerts from a real `oxbot run --headless` on the sim market at max speed: the fills reach a
local webhook (tests/alerts/alerts_webhook.py: what apprise POSTs and where it was read),
rate-limited to a bounded count, and the engine stopping is the last message; a webhook that
never answers neither slows the engine (cycles a second of the same order as without alerts)
nor delays its stop.

The first two engines read the URL from OXBOT_ALERT_HOOK_URL (the read-only environment
source of storage/alert_urls.py); the last one reads it from a real gnome-keyring where
`oxbot alerts add` put it (inside dbus-run-session, as tests/keyring_live does)."""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pytest
from module_loading import load_by_path
from waiting import wait_until

OXBOT = [sys.executable, "-m", "oxbot.cli.main"]

hooks = load_by_path(
    "alerts_webhook", Path(__file__).resolve().parents[1] / "alerts" / "alerts_webhook.py"
)
FILL = r"^.*?e-\w+: (buy|sell) \S+ \S+ @ "
PER_MINUTE = 3

pytestmark = pytest.mark.slow


def _settings(home, per_minute: int = PER_MINUTE) -> None:
    path = home.root / "config" / "settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    routes = {"hook": {"events": ["fill", "sl_tp", "engine_stopped"], "per_minute": per_minute}}
    path.write_text(json.dumps({"alerts": routes}))


def _cycles_per_s(engine, seconds: float = 3.0) -> float:
    first, started = engine.status()["cycles"], time.monotonic()
    wait_until(lambda: time.monotonic() - started >= seconds, seconds + 5, "the sample")
    return (engine.status()["cycles"] - first) / (time.monotonic() - started)


def test_headless_fills_reach_the_webhook_rate_limited(home, fast_bots, record_property):
    hook = hooks.Webhook()
    try:
        _settings(home)
        for bot in fast_bots:
            home.add_bot(*bot, "--start")
        env = {**home.env, "OXBOT_ALERT_HOOK_URL": hook.url}
        engine = home.spawn("run", "--headless", "--sim-speed", "max", env=env)
        engine.wait_ready()
        wait_until(lambda: hook.posts, 30, "the first alert at the webhook")
        fills = len(re.findall(FILL, engine.text(), re.M))
        engine.wait_log(FILL, after=len(engine.text()))  # more fills since
        code, took = engine.terminate()
        assert code == 0 and took < 5
        log = engine.text()
        assert "Traceback" not in log and hook.url not in log
    finally:
        hook.close()
    messages = hook.messages()
    record_property("figures", f"{fills}+ fills logged, {len(messages)} alert messages")
    # at most PER_MINUTE while running (the test runs well under a minute), plus the flush
    assert 2 <= len(messages) <= PER_MINUTE + 1, messages
    assert messages[-1].endswith("engine stopped")
    assert any(" fills" in m and "since the last message" in m for m in messages[1:]), messages
    assert fills >= 1 and all(p["title"] == "oxbot" for p in hook.posts)


def test_a_hanging_webhook_neither_slows_nor_holds_the_engine(home, fast_bots, record_property):
    for bot in fast_bots:
        home.add_bot(*bot, "--start")
    plain = home.spawn("run", "--headless", "--sim-speed", "max")
    plain.wait_ready()
    plain.wait_log(FILL, timeout=30)
    without = _cycles_per_s(plain)
    assert plain.terminate()[0] == 0

    hang = hooks.HangingHook()
    try:
        _settings(home, per_minute=120)
        env = {**home.env, "OXBOT_ALERT_HOOK_URL": hang.url}
        stuck = home.spawn("run", "--headless", "--sim-speed", "max", env=env)
        stuck.wait_ready()
        stuck.wait_log(FILL, timeout=30)
        wait_until(lambda: hang.accepted, 20, "a delivery stuck in the hanging webhook")
        with_hang = _cycles_per_s(stuck)
        code, took = stuck.terminate()
    finally:
        hang.close()
    record_property(
        "figures",
        f"cycles/s without alerts {without:.0f}, with a hanging webhook {with_hang:.0f}; "
        f"stopped in {took:.1f} s",
    )
    assert code == 0 and took < 5, took  # the flush gives up after 3 s
    assert with_hang >= without / 5, (with_hang, without)
    log = stuck.text()
    assert "alerts: hook: " in log and "not sent at stop" in log, log[-3000:]
    assert "Traceback" not in log and "Exception in thread" not in log, log[-3000:]


UNLOCK = "echo -n test | gnome-keyring-daemon --unlock --components=secrets >/dev/null"


def test_a_url_added_to_the_real_keyring_drives_the_headless_engine(home, fast_bots):
    """`oxbot alerts add` into a real gnome-keyring (inside dbus-run-session, as
    tests/keyring_live does), then the headless engine in the same session reads it there."""
    import shlex
    import shutil
    import subprocess

    missing = [t for t in ("dbus-run-session", "gnome-keyring-daemon") if not shutil.which(t)]
    if missing:
        pytest.skip(f"{', '.join(missing)} not found: `apt-get install -y dbus gnome-keyring`")
    hook = hooks.Webhook()
    log = home.root / "keyring-engine.log"
    try:
        _settings(home)
        for bot in fast_bots:
            home.add_bot(*bot, "--start")
        oxbot = " ".join(shlex.quote(a) for a in [*OXBOT, "--db", str(home.db)])
        script = (
            f"{UNLOCK}; echo {shlex.quote(hook.url)} | {oxbot} alerts add hook --stdin "
            f"&& exec {oxbot} run --headless --sim-speed max"
        )
        with log.open("wb") as out:
            proc = subprocess.Popen(
                ["dbus-run-session", "--", "sh", "-c", script],
                env=home.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                wait_until(
                    lambda: hook.posts or proc.poll() is not None,
                    40,
                    "an alert from the engine",
                    detail=lambda: log.read_text(errors="replace")[-3000:],
                )
                text = log.read_text(errors="replace")
                assert hook.posts, text[-3000:]
                assert "saved alert hook: URL in the keyring" in text
                home.ok("stop")
                assert proc.wait(15) == 0
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(10)
    finally:
        hook.close()
    settings = (home.root / "config" / "settings.json").read_text()
    assert hook.url not in settings and str(hook.port) not in settings
    assert hook.messages()[-1].endswith("engine stopped")
