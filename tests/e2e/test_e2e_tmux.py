"""The headless engine inside tmux survives its tmux client going away (an SSH drop), keeps
cycling, and `oxbot attach` in a NEW tmux session shows the bots still trading; quitting the
attached cockpit leaves the engine running.

A private tmux server (`tmux -L NAME`) is used so the developer's own tmux is never touched.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from typing import Any

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None,
                       reason="tmux is not installed (apt-get install tmux)"),
]


class Tmux:
    def __init__(self) -> None:
        self.server = f"oxe2e-{uuid.uuid4().hex[:8]}"

    def __call__(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.server, *args], check=True,
                              capture_output=True, text=True, timeout=10).stdout

    def screen(self, session: str) -> str:
        return self("capture-pane", "-p", "-t", session)

    def wait_screen(self, session: str, pattern: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen(session)
            if re.search(pattern, text):
                return text
            time.sleep(0.25)
        raise AssertionError(f"{pattern!r} not on screen after {timeout}s:\n{text}")

    def clients(self) -> list[str]:
        return [c for c in self("list-clients", "-F", "#{client_pid}").split() if c]

    def kill_server(self) -> None:
        subprocess.run(["tmux", "-L", self.server, "kill-server"], capture_output=True,
                       timeout=10)


def command(home: Any, *args: str, log: str | None = None) -> str:
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in home.env.items()
                   if k.startswith(("OXBOT_", "XDG_", "PYTHON")))
    argv = " ".join(shlex.quote(a) for a in (sys.executable, "-m", "oxbot.cli.main",
                                             "--db", str(home.db), *args))
    redirect = f" 2>{shlex.quote(log)}" if log else ""
    return f"env TERM=xterm-256color {env} {argv}{redirect}"


def test_engine_in_tmux_survives_client_loss_and_attach_sees_trading(home, fast_bots):
    for bot in fast_bots:
        home.add_bot(*bot, "--start")
    tmux = Tmux()
    log = str(home.root / "tmux-engine.log")
    from oxbot.remote.client import engine_running

    try:
        tmux("new-session", "-d", "-s", "engine", "-x", "120", "-y", "30",
             command(home, "run", "--headless", "--sim-speed", "300", "--status-every", "0.02",
                     log=log))
        from oxbot.engine.errors import OxbotError
        from oxbot.remote.client import request_status

        deadline = time.monotonic() + 20
        while not engine_running(home.socket):
            assert time.monotonic() < deadline, "the engine in tmux never opened its socket"
            time.sleep(0.1)

        # an attached tmux client (the user's SSH terminal), then it dies like a dropped SSH
        # session: SIGHUP to the client process, the tmux server and the session stay
        master, slave = os.openpty()
        client = subprocess.Popen(["tmux", "-L", tmux.server, "attach", "-t", "engine"],
                                  stdin=slave, stdout=slave, stderr=slave,
                                  env={**os.environ, "TERM": "xterm-256color"},
                                  start_new_session=True)
        os.close(slave)
        deadline = time.monotonic() + 10
        while str(client.pid) not in tmux.clients():
            assert time.monotonic() < deadline, "the tmux client never attached"
            time.sleep(0.1)
        before = request_status(home.socket)
        client.send_signal(signal.SIGHUP)
        client.wait(10)
        os.close(master)
        assert tmux.clients() == []

        # the bots go on deciding without the client (polled: a loaded machine may still be
        # warming them up when the client dies)
        deadline = time.monotonic() + 60
        after = before
        while after["cycles"] <= before["cycles"]:
            assert time.monotonic() < deadline, (before, after)
            time.sleep(0.2)
            try:
                after = request_status(home.socket)
            except OxbotError:  # "did not report its status within 3 s": loaded, ask again
                continue
        assert after["bots_running"] == 2

        # a NEW tmux session attaches the cockpit to the same engine
        tmux("new-session", "-d", "-s", "cockpit", "-x", "160", "-y", "45",
             command(home, "attach"))
        text = tmux.wait_screen("cockpit", r"e-sma.*running", 30)
        assert re.search(r"e-rsi.*running", text), text
        # trading goes on live on screen: the bot rows (equity, P&L) change
        first_rows = re.findall(r"e-(?:sma|rsi) .*", text)
        deadline = time.monotonic() + 30
        while re.findall(r"e-(?:sma|rsi) .*", tmux.screen("cockpit")) == first_rows:
            assert time.monotonic() < deadline, f"bot rows frozen on screen:\n{text}"
            time.sleep(0.25)
        trades = request_status(home.socket)["trades"]
        tmux("send-keys", "-t", "cockpit", "q")  # quit the attached cockpit: engine stays
        deadline = time.monotonic() + 10
        while "cockpit" in tmux("list-sessions", "-F", "#{session_name}"):
            assert time.monotonic() < deadline, tmux.screen("cockpit")
            time.sleep(0.2)
        time.sleep(1.0)
        final = request_status(home.socket)
        assert final["bots_running"] == 2 and final["trades"] > trades
    finally:
        # SIGHUP is ignored by design, so killing the tmux server would orphan the engine:
        # stop it through its socket first.
        from oxbot.remote.client import request_stop

        if engine_running(home.socket):
            assert request_stop(home.socket, timeout=10), "the engine did not stop"
        tmux.kill_server()
    text = (home.root / "tmux-engine.log").read_text(encoding="utf-8")
    assert "Traceback" not in text and "\x1b" not in text
    assert "engine stopped" in text
