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
import uuid
from typing import Any

import pytest
from waiting import wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("tmux") is None, reason="tmux is not installed (apt-get install tmux)"
    ),
]


class Tmux:
    def __init__(self) -> None:
        self.server = f"oxe2e-{uuid.uuid4().hex[:8]}"

    def __call__(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.server, *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout

    def screen(self, session: str) -> str:
        return self("capture-pane", "-p", "-t", session)

    def wait_screen(self, session: str, pattern: str, timeout: float) -> str:
        """The screen once ``pattern`` is on it."""

        def shown() -> str | None:
            text = self.screen(session)
            return text if re.search(pattern, text) else None

        return wait_until(
            shown,
            timeout,
            f"{pattern!r} on screen",
            every=0.25,
            detail=lambda: self.screen(session),
        )

    def clients(self) -> list[str]:
        return [c for c in self("list-clients", "-F", "#{client_pid}").split() if c]

    def kill_server(self) -> None:
        subprocess.run(["tmux", "-L", self.server, "kill-server"], capture_output=True, timeout=10)


def more(now: dict[str, Any] | None, than: dict[str, Any], key: str) -> dict[str, Any] | None:
    """``now`` if its ``key`` count is past ``than``'s."""
    return now if now is not None and now[key] > than[key] else None


def command(home: Any, *args: str, log: str | None = None) -> str:
    env = " ".join(
        f"{k}={shlex.quote(v)}"
        for k, v in home.env.items()
        if k.startswith(("OXBOT_", "XDG_", "PYTHON"))
    )
    argv = " ".join(
        shlex.quote(a)
        for a in (sys.executable, "-m", "oxbot.cli.main", "--db", str(home.db), *args)
    )
    redirect = f" 2>{shlex.quote(log)}" if log else ""
    return f"env TERM=xterm-256color {env} {argv}{redirect}"


def test_engine_in_tmux_survives_client_loss_and_attach_sees_trading(home, fast_bots):
    for bot in fast_bots:
        home.add_bot(*bot, "--start")
    tmux = Tmux()
    log = str(home.root / "tmux-engine.log")
    from oxbot.remote.client import engine_running

    try:
        tmux(
            "new-session",
            "-d",
            "-s",
            "engine",
            "-x",
            "120",
            "-y",
            "30",
            command(
                home, "run", "--headless", "--sim-speed", "300", "--status-every", "0.02", log=log
            ),
        )
        from oxbot.engine.errors import OxbotError
        from oxbot.remote.client import request_status

        def status() -> dict[str, Any] | None:
            try:
                return request_status(home.socket)
            except OxbotError:  # "did not report its status within 3 s": loaded, ask again
                return None

        wait_until(
            lambda: engine_running(home.socket),
            20,
            "the engine in tmux to open its socket",
            every=0.1,
        )

        # an attached tmux client (the user's SSH terminal), then it dies like a dropped SSH
        # session: SIGHUP to the client process, the tmux server and the session stay
        master, slave = os.openpty()
        client = subprocess.Popen(
            ["tmux", "-L", tmux.server, "attach", "-t", "engine"],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env={**os.environ, "TERM": "xterm-256color"},
            start_new_session=True,
        )
        os.close(slave)
        wait_until(
            lambda: str(client.pid) in tmux.clients(), 10, "the tmux client to attach", every=0.1
        )
        # The engine opened its socket moments ago and may still be loading its bots on a busy
        # machine: its first status may take longer than the CLI's 3 s (a CI run saw that).
        before = request_status(home.socket, timeout=30)
        client.send_signal(signal.SIGHUP)
        client.wait(10)
        os.close(master)
        assert tmux.clients() == []

        # the bots go on deciding without the client (polled: a loaded machine may still be
        # warming them up when the client dies)
        after = wait_until(
            lambda: more(status(), before, "cycles"),
            60,
            "more cycles after the client died",
            every=0.2,
            detail=lambda: f"before: {before}",
        )
        assert after["bots_running"] == 2

        # a NEW tmux session attaches the cockpit to the same engine
        tmux("new-session", "-d", "-s", "cockpit", "-x", "160", "-y", "45", command(home, "attach"))
        text = tmux.wait_screen("cockpit", r"e-sma.*running", 30)
        assert re.search(r"e-rsi.*running", text), text
        # trading goes on live on screen: the bot rows (equity, P&L) change
        first_rows = re.findall(r"e-(?:sma|rsi) .*", text)
        wait_until(
            lambda: re.findall(r"e-(?:sma|rsi) .*", tmux.screen("cockpit")) != first_rows,
            30,
            "the bot rows to change on screen",
            every=0.25,
            detail=lambda: f"bot rows frozen on screen:\n{text}",
        )
        trades = request_status(home.socket)["trades"]
        tmux("send-keys", "-t", "cockpit", "q")  # quit the attached cockpit: engine stays
        wait_until(
            lambda: "cockpit" not in tmux("list-sessions", "-F", "#{session_name}"),
            10,
            "the cockpit's tmux session to end",
            every=0.2,
            detail=lambda: tmux.screen("cockpit"),
        )
        # the engine trades on without the cockpit: a later trade, not a pause, shows it
        final = wait_until(
            lambda: more(status(), {"trades": trades}, "trades"),
            60,
            "a trade after the cockpit quit",
            every=0.2,
            detail=lambda: f"trades when it quit: {trades}",
        )
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
