"""End to end in a real terminal: `oxbot` in tmux on a temporary database; keys sent with
send-keys, the screen read with capture-pane. Start a demo bot, see it trade, stop it, quit, and
the terminal is restored (no alternate screen, the shell prompt back)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid

import pytest
from waiting import wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("tmux") is None, reason="tmux is not installed (apt-get install tmux)"
    ),
]


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


def screen(name: str) -> str:
    return tmux("capture-pane", "-p", "-t", name)


def wait_for(name: str, pattern: str, timeout: float) -> str:
    """The screen once ``pattern`` is on it."""
    found = re.compile(pattern, re.MULTILINE)

    def shown() -> str | None:
        text = screen(name)
        return text if found.search(text) else None

    return wait_until(
        shown, timeout, f"{pattern!r} on screen", every=0.25, detail=lambda: screen(name)
    )


def test_demo_bot_trades_in_tmux(tmp_path):
    name = f"oxbot-e2e-{uuid.uuid4().hex[:8]}"
    env_prefix = (
        f"env HOME={tmp_path} XDG_CONFIG_HOME={tmp_path}/cfg "
        f"XDG_DATA_HOME={tmp_path}/data XDG_RUNTIME_DIR={tmp_path}/run "
        f"TERM=xterm-256color"
    )
    os.makedirs(tmp_path / "run", mode=0o700, exist_ok=True)
    cmd = f"{env_prefix} {sys.executable} -m oxbot.cli.main --db {tmp_path}/e2e.db"
    tmux("new-session", "-d", "-s", name, "-x", "120", "-y", "40", "bash --norc --noprofile")
    try:
        tmux("send-keys", "-t", name, "PS1='e2e$ '; clear", "Enter")
        tmux("send-keys", "-t", name, cmd, "Enter")
        # first run: the demo bots are offered, stopped
        wait_for(name, r"demo-llm.*■ stopped", 30)
        assert "PAPER" in screen(name)
        tmux("send-keys", "-t", name, "s")  # the cursor is on demo-llm (first row)
        wait_for(name, r"demo-llm.*▶ running", 10)
        text = wait_for(name, r"demo-\w+ +(BUY|SELL) ", 120)  # a fill in the Fills panel
        assert re.search(r"demo-llm .*running", text)
        tmux("send-keys", "-t", name, "x")
        text = wait_for(name, r"demo-llm.*■ stopped|Stop demo-llm\?", 15)
        if "Stop demo-llm?" in text:  # it holds a position: enter keeps it (the default)
            tmux("send-keys", "-t", name, "Enter")
            wait_for(name, r"demo-llm.*■ stopped", 15)
        tmux("send-keys", "-t", name, "q")
        wait_for(name, r"e2e\$ *$", 20)
        assert tmux("display-message", "-p", "-t", name, "#{alternate_on}").strip() == "0"
        assert "Traceback" not in screen(name)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)
