"""First screen: launch to the cockpit's drawn dashboard, in a real terminal (tmux 120x40).

    .venv/bin/python bench/first_screen.py [--python PY ...] [--runs 7]

Each run starts `PY -m oxbot.cli.main` (plain `oxbot`, no --demo: the cockpit hosting its engine
in-process) in a new session of a private tmux server (`tmux -L NAME`, the user's own tmux is not
touched), then polls `tmux capture-pane -p` every 10 ms until the screen shows:

- "first frame": the Bots table's column header "Round trips", which only the drawn dashboard
  shows (tui/widgets: BotsTable);
- "bots shown": the row of the demo bot "demo-sma", i.e. the engine's first snapshot drawn.

OXBOT_HOME is a temporary directory prepared once by a first, unmeasured run: a new database
is created with the three demo bots (what plain `oxbot` offers on a fresh home), so the timed
runs open an existing database as a user's usual start does. The floor is `oxbot --version` in
the same tmux, timed until "oxbot " is printed. Several --python interpreters (one per
checkout's venv) are measured alternately, run by run, so a shared machine's load falls on
each alike. PYTHONDONTWRITEBYTECODE is removed from the environment: a user's Python writes
its .pyc files, and the first run writes them here.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

FIRST_FRAME = "Round trips"
BOTS_SHOWN = "demo-sma"


class Tmux:
    def __init__(self) -> None:
        self.server = f"oxfs-{uuid.uuid4().hex[:8]}"

    def __call__(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.server, *args], capture_output=True, text=True, timeout=10
        ).stdout

    def pane_pid(self) -> int | None:
        out = self("list-panes", "-t", "s", "-F", "#{pane_pid}").strip()
        return int(out) if out.isdigit() else None

    def kill(self) -> None:
        self("kill-server")


def gone(pid: int | None, timeout: float = 15.0) -> None:
    """Wait until process ``pid`` has exited (its engine's database lock released)."""
    end = time.monotonic() + timeout
    while pid is not None and time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except OSError:
            return
        time.sleep(0.02)


def timed(shell: str, marks: list[str], timeout: float = 60.0) -> list[float]:
    """Seconds from starting ``shell`` in tmux 120x40 until each of ``marks`` is on screen."""
    tmux = Tmux()
    found: list[float] = []
    pid = None
    try:
        start = time.perf_counter()
        tmux("new-session", "-d", "-s", "s", "-x", "120", "-y", "40", shell)
        pid = tmux.pane_pid()
        while len(found) < len(marks):
            now = time.perf_counter() - start
            if now > timeout:
                raise TimeoutError(f"{marks[len(found)]!r} not on screen after {timeout} s")
            screen = tmux("capture-pane", "-p", "-t", "s")
            while len(found) < len(marks) and marks[len(found)] in screen:
                found.append(now)
            time.sleep(0.01)
        if len(marks) > 1:  # the cockpit: quit it as a user does (no bot runs: no question)
            tmux("send-keys", "-t", "s", "q")
            gone(pid, 10.0)
    finally:
        tmux.kill()
        gone(pid)
    return found


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", action="append", help="interpreter(s) with oxbot installed")
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    if shutil.which("tmux") is None:
        print("tmux is not installed", file=sys.stderr)
        return 2
    pythons = args.python or [sys.executable]
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    print(
        f"machine: {platform.processor() or platform.machine()}, "
        f"{len(os.sched_getaffinity(0))} cores, Python {platform.python_version()}, "
        f"load {os.getloadavg()[0]:.2f}; runs={args.runs}; tmux 120x40"
    )
    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="oxbot-fs-") as tmp:
        homes = {}
        for i, py in enumerate(pythons):
            home = Path(tmp) / f"home{i}"
            home.mkdir()
            homes[py] = f"env OXBOT_HOME={home} {py} -m oxbot.cli.main"
            timed(homes[py], [FIRST_FRAME, BOTS_SHOWN])  # creates the database and demo bots
            timed(f"{py} -m oxbot.cli.main --version; sleep 30", ["oxbot "])
            results[py] = {"version": [], "frame": [], "bots": []}
        for _ in range(args.runs):
            for py in pythons:
                v = timed(f"{py} -m oxbot.cli.main --version; sleep 30", ["oxbot "])
                frame, bots = timed(homes[py], [FIRST_FRAME, BOTS_SHOWN])
                results[py]["version"] += v
                results[py]["frame"].append(frame)
                results[py]["bots"].append(bots)
    print(f"load after: {os.getloadavg()[0]:.2f}")
    print("| python | oxbot --version s | first frame s (min–max) | bots shown s |")
    print("|---|---:|---:|---:|")
    for py, r in results.items():
        med = {k: statistics.median(v) for k, v in r.items()}
        spread = f"{min(r['frame']):.3f}–{max(r['frame']):.3f}"
        print(
            f"| {py} | {med['version']:.3f} | {med['frame']:.3f} ({spread}) | {med['bots']:.3f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
