"""`oxbot run --headless` as a real subprocess: a client attaches, starts and stops bots, detaches,
and the engine keeps trading; SIGHUP is ignored; SIGTERM exits 0 within 5 s; plain logs carry no
ANSI escape or traceback; JSON logs are one object per line; running bots resume on restart."""

from __future__ import annotations

import json
import queue
import re
import signal
from typing import Any

from waiting import wait_until

from oxbot.engine.messages import (
    BotStateChanged,
    CommandDone,
    EngineSnapshot,
    OrderFilled,
    StartBot,
    StopBot,
)
from oxbot.engine.models import BotStatus
from oxbot.remote.client import SocketClient

FILL = r"^.*?(e-\w+|idle): (buy|sell) \S+ \S+ @ "


def clean_log(text: str) -> None:
    assert "Traceback" not in text, text[-4000:]
    assert "\x1b" not in text, "ANSI escape in a non-TTY log"


class Attached:
    """A SocketClient whose events land in a queue the test reads."""

    def __init__(self, path: Any) -> None:
        self.events: queue.Queue[Any] = queue.Queue()
        self.client = SocketClient(path)
        self.client.start(self.events.put)

    def next(self, kind: type, timeout: float = 10.0, **match: Any) -> Any:
        """The next event of ``kind`` whose fields match (those before it are dropped)."""

        def take() -> Any:
            while True:
                try:
                    ev = self.events.get_nowait()
                except queue.Empty:
                    return None
                if isinstance(ev, kind) and all(_get(ev, k) == v for k, v in match.items()):
                    return ev

        return wait_until(take, timeout, f"a {kind.__name__} {match}")

    def command(self, cmd: Any) -> CommandDone:
        self.client.submit(cmd)
        return self.next(CommandDone, request_id=cmd.request_id)


def _get(obj: Any, dotted: str) -> Any:
    for part in dotted.split("__"):
        obj = getattr(obj, part)
    return obj


def test_headless_attach_control_detach_keeps_trading(home, fast_bots):
    for bot in fast_bots:
        home.add_bot(*bot, "--start")
    home.add_bot("idle", "--strategy", "sma_cross", "--param", "fast=2", "--param", "slow=5")
    engine = home.spawn("run", "--headless", "--sim-speed", "600", "--status-every", "0.02")
    engine.wait_ready()
    engine.wait_log(FILL, timeout=30)

    # attach: the first event is the whole picture
    att = Attached(home.socket)
    snap = att.next(EngineSnapshot)
    status = {b.name: b.status.value for b in snap.bots}
    assert status == {"e-sma": "running", "e-rsi": "running", "idle": "stopped"}

    done = att.command(StartBot(request_id="s1", name="idle"))
    assert done.ok, done.message
    att.next(BotStateChanged, bot__name="idle", bot__status=BotStatus.RUNNING)
    done = att.command(StartBot(request_id="s2", name="no-such-bot"))
    assert not done.ok and "no-such-bot" in done.message

    # the shell commands go through the socket while the engine runs
    r = home.cli("bots", "stop", "e-sma")
    assert r.returncode == 0, r.stderr
    assert "stop" in r.stdout, r.stdout
    att.next(BotStateChanged, bot__name="e-sma", bot__status=BotStatus.STOPPED)
    r = home.cli("bots", "start", "e-sma")
    assert r.returncode == 0, r.stderr
    att.next(BotStateChanged, bot__name="e-sma", bot__status=BotStatus.RUNNING)
    att.next(OrderFilled, timeout=20)  # the attached client sees trades live

    done = att.command(StopBot(request_id="s3", name="idle"))
    assert done.ok, done.message
    att.client.stop()  # detach

    # the engine keeps trading without any client
    before = engine.status()
    offset = len(engine.text())
    engine.wait_log(FILL, timeout=20, after=offset)
    engine.signal(signal.SIGHUP)
    sighup = engine.wait_log(r"SIGHUP ignored", timeout=5, after=offset)
    # a fill logged after the signal, not a pause, shows the engine lived on past it
    engine.wait_log(FILL, timeout=20, after=sighup.end())
    assert engine.proc.poll() is None, "SIGHUP stopped the engine"
    engine.wait_log(FILL, timeout=20, after=len(engine.text()))
    after = json.loads(home.ok("status", "--json"))
    assert after["cycles"] > before["cycles"] and after["trades"] > before["trades"]
    assert (after["bots_running"], after["bots_total"]) == (2, 3)
    text = home.ok("status")
    assert re.search(r"bots running\s+2", text), text

    # the periodic summary (every 0.02 min = 1.2 s)
    assert (
        len(
            re.findall(
                r"status: uptime \d+s, bots running \d/3, cycles \d+, round trips \d+, "
                r"equity [\d.]+, errors \d+",
                engine.text(),
            )
        )
        >= 2
    )

    code, took = engine.terminate()
    assert code == 0 and took < 5.0, (code, took)
    text = engine.text()
    clean_log(text)
    assert re.search(r"final status: .*cycles \d+", text)
    rows = dict(home.query("SELECT name, status FROM bots WHERE deleted=0"))
    assert rows == {"e-sma": "running", "e-rsi": "running", "idle": "stopped"}


def test_restart_resumes_running_bots_and_json_logs(home, fast_bots):
    home.add_bot(*fast_bots[0], "--start")
    home.add_bot(*fast_bots[1])  # stays stopped
    first = home.spawn(
        "run", "--headless", "--sim-speed", "max", "--log-format", "json", "--status-every", "0.02"
    )
    first.wait_ready()
    first.wait_log(r'"msg": "e-sma: (buy|sell) ', timeout=30)
    first.wait_log(r'"msg": "status: uptime', timeout=10)
    code, took = first.terminate()
    assert code == 0 and took < 5.0, (code, took)
    lines = first.text().splitlines()
    assert len(lines) > 5
    for line in lines:  # one JSON object per line, nothing else
        obj = json.loads(line)
        assert {"ts", "level", "msg"} <= obj.keys(), line
    clean_log(first.text())
    trades_before = first.text().count('"msg": "e-sma: ')

    # restart: the bot that was running resumes, the stopped one stays stopped
    second = home.spawn("run", "--headless", "--sim-speed", "max", "--status-every", "0.02")
    second.wait_ready()
    s = second.status()
    assert (s["bots_running"], s["bots_total"]) == (1, 2)
    second.wait_log(r"e-sma: (buy|sell) ", timeout=20)
    assert not re.search(r"e-rsi: (buy|sell) ", second.text())
    assert trades_before > 0
    code, _ = second.terminate()
    assert code == 0

    # --no-resume: nothing runs this time, and the stored state is kept for the next start
    third = home.spawn(
        "run", "--headless", "--sim-speed", "max", "--no-resume", "--status-every", "0.02"
    )
    third.wait_ready()
    s = third.status()
    assert (s["bots_running"], s["bots_total"]) == (0, 2)
    # the engine's own periodic summary (1.2 s in), not a pause: no cycle ran, so no trade
    third.wait_log(r"status: uptime \d+s, bots running 0/2, cycles 0,")
    assert not re.search(r"e-\w+: (buy|sell) ", third.text())
    code, _ = third.terminate()
    assert code == 0
    clean_log(second.text() + third.text())
    # no engine runs: never "running"; what each does at the next start is the stored status
    listed = {
        b["name"]: (b["status"], b["stored_status"])
        for b in json.loads(home.ok("bots", "list", "--json"))
    }
    assert listed == {"e-sma": ("stopped", "running"), "e-rsi": ("stopped", "stopped")}
