"""Plain `oxbot` draws its first frame before the engine is built (cli/tui.py), yet a database it
cannot open is still reported before any UI: run in a pseudo-terminal, the command exits with
the message and never switches to the alternate screen (Textual's first output, ESC[?1049h).
An engine that fails later, on its thread, closes the cockpit and the error is printed."""

from __future__ import annotations

import os
import pty
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from oxbot.storage.lock import WriterLock
from oxbot.storage.migrations import ALEMBIC_HEAD, latest_version

ALT_SCREEN = b"\x1b[?1049h"
ALT_SCREEN_OFF = b"\x1b[?1049l"


def run_in_pty(
    args: list[str], home: Path, timeout: float = 60.0, script: str | None = None
) -> tuple[int, bytes]:
    """Run `oxbot ARGS` (or ``script`` with ARGS) with a terminal as stdin/stdout/stderr; its
    exit code and output."""
    leader, follower = pty.openpty()
    env = {**os.environ, "OXBOT_HOME": str(home), "TERM": "xterm-256color"}
    run = ["-c", script] if script else ["-m", "oxbot.cli.main"]
    proc = subprocess.Popen(
        [sys.executable, *run, *args],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
        close_fds=True,
    )
    os.close(follower)
    out = b""
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the process closed the terminal (it exited)
                break
            if not chunk:
                break
            out += chunk
        code = proc.wait(timeout=max(1.0, end - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(leader)
    return code, out


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "oxbot.db"


def test_a_locked_database_is_reported_before_any_ui(tmp_path: Path, db: Path) -> None:
    db.parent.mkdir(parents=True)
    with WriterLock(db):  # another engine (this test) holds the database
        code, out = run_in_pty(["--db", str(db)], tmp_path)
    assert ALT_SCREEN not in out, out[-500:]
    assert code != 0
    assert b"another oxbot engine" in out and str(os.getpid()).encode() in out


def test_a_newer_database_is_reported_before_any_ui(tmp_path: Path, db: Path) -> None:
    db.parent.mkdir(parents=True)
    with sqlite3.connect(db) as conn:  # storage/migrations.py reads schema_version row id 1
        conn.execute("CREATE TABLE schema_version (id INTEGER PRIMARY KEY, version INTEGER, ts)")
        conn.execute("INSERT INTO schema_version VALUES (1, 999, 0)")
    conn.close()
    code, out = run_in_pty(["--db", str(db)], tmp_path)
    assert ALT_SCREEN not in out, out[-500:]
    assert code != 0
    assert b"schema version 999" in out and b"upgrade oxbot" in out
    with sqlite3.connect(db) as conn:  # nothing was written
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(999,)]
    conn.close()


def test_an_engine_that_fails_after_the_first_frame_closes_the_cockpit_with_its_error(
    tmp_path: Path, db: Path
) -> None:
    """A database at this oxbot's schema version but without its tables passes the checks
    before the UI; the engine's first read (the stored bots) fails on the engine thread."""
    db.parent.mkdir(parents=True)
    with sqlite3.connect(db) as conn:  # the real schema_version table (storage/schema.py)
        conn.execute(
            "CREATE TABLE schema_version (id INTEGER PRIMARY KEY, version INTEGER, updated_ts)"
        )
        conn.execute("INSERT INTO schema_version VALUES (1, ?, 0)", (latest_version(),))
        # and alembic's revision (storage/migrations.py): nothing to migrate
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        conn.execute("INSERT INTO alembic_version VALUES (?)", (ALEMBIC_HEAD,))
    conn.close()
    code, out = run_in_pty(["--db", str(db)], tmp_path)
    assert ALT_SCREEN in out  # the cockpit was up ...
    assert out.rindex(ALT_SCREEN_OFF) > out.rindex(ALT_SCREEN)  # ... and the terminal restored
    assert code == 1
    assert b"no such table: bots" in out[out.rindex(ALT_SCREEN_OFF) :]


GC_PROBE = """
import gc, json, sys
from oxbot.tui import app as tui_app, hosting
seen, apps = {}, []
mount = tui_app.OxbotApp.on_mount
def on_mount(self):
    seen["first_frame"] = gc.isenabled()
    apps.append(self)
    mount(self)
start = hosting.EngineHost.start
def host_start(self, listener):
    seen["engine_build"] = gc.isenabled()
    start(self, listener)
    seen["engine_runs"] = gc.isenabled()
    seen["frozen"] = gc.get_freeze_count() > 10_000
    apps[0].call_from_thread(apps[0].exit, 0)
hosting.EngineHost.start = host_start
tui_app.OxbotApp.on_mount = on_mount
from oxbot.cli.main import main
code = main(sys.argv[1:])
print("GC=" + json.dumps(seen), code)
"""


def test_the_cycle_collector_waits_until_the_engine_runs(tmp_path: Path, db: Path) -> None:
    """cli/tui.py holds the collector through the first frame and the engine's build; once the
    engine runs the heap is frozen and the collector resumed (bench/RESULTS.md, session 25)."""
    code, out = run_in_pty(["--db", str(db), "--create"], tmp_path, script=GC_PROBE)
    assert code == 0, out[-500:]
    line = out[out.rindex(b"GC=") :].split(b"\r\n")[0].decode()
    assert line == (
        'GC={"first_frame": false, "engine_build": false, "engine_runs": true, "frozen": true} 0'
    ), line
