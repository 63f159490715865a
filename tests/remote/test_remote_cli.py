"""`oxbot status` and `oxbot stop` as a user runs them, against a control server on the socket the
CLI derives from --db / OXBOT_HOME (storage.paths)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from oxbot.cli import main as cli
from oxbot.remote.server import ControlServer, socket_path_for
from oxbot.storage.paths import runtime_dir


@pytest.fixture
def home(sock_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OXBOT_HOME", str(sock_dir))
    monkeypatch.delenv("OXBOT_DB", raising=False)
    return sock_dir


@pytest.fixture
async def served(home: Path, engine) -> tuple[Path, ControlServer]:
    db = home / "trading.db"
    server = ControlServer(engine, socket_path_for(db, runtime_dir()))
    await server.start()
    yield db, server
    await server.close()


async def test_status_prints_the_summary(served, capsys) -> None:
    db, server = served
    code = await asyncio.to_thread(cli.main, ["--db", str(db), "status"])
    out = capsys.readouterr().out
    assert code == 0
    assert "uptime        1h 02m 05s" in out
    assert "bots running  0" in out and "bots total    2" in out
    assert "equity        20025.00" in out
    assert str(server.path) in out


async def test_status_json_is_one_object(served, engine, capsys) -> None:
    db, _ = served
    code = await asyncio.to_thread(cli.main, ["--db", str(db), "status", "--json"])
    out = capsys.readouterr().out
    assert code == 0 and out.count("\n") == 1
    got = json.loads(out)
    bots = got.pop("bots")  # the CLI adds each bot's figures (cli/remote.py run_status)
    assert got == engine.status_summary()
    assert [b["name"] for b in bots] == [v.name for v in engine.snapshot().bots]


async def test_oxbot_db_environment_variable_finds_the_engine(served, monkeypatch, capsys):
    db, _ = served
    monkeypatch.setenv("OXBOT_DB", str(db))
    assert await asyncio.to_thread(cli.main, ["status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["bots_total"] == 2


async def test_stop_stops_the_engine_gracefully(served, engine, capsys) -> None:
    db, server = served

    async def runner() -> None:
        await engine.stop_requested.wait()
        await server.close()

    task = asyncio.create_task(runner())
    code = await asyncio.to_thread(cli.main, ["--db", str(db), "stop"])
    await task
    out = capsys.readouterr().out
    assert code == 0 and "engine stopped" in out
    assert not server.path.exists()


async def test_status_of_another_database_says_none_is_running(served, home, capsys) -> None:
    other = home / "other.db"
    code = await asyncio.to_thread(cli.main, ["--db", str(other), "status"])
    err = capsys.readouterr().err
    assert code == 1
    assert f"no oxbot engine is running for DB {other}" in err
    assert "oxbot run --headless" in err and "Traceback" not in err


def test_status_and_stop_without_an_engine_in_a_real_process(home: Path) -> None:
    env = {**os.environ, "OXBOT_HOME": str(home), "XDG_RUNTIME_DIR": str(home)}
    for argv in (["status", "--json"], ["stop"]):
        proc = subprocess.run(
            [sys.executable, "-m", "oxbot.cli.main", "--db", str(home / "x.db"), *argv],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert proc.returncode == 1, proc.stderr
        assert "no oxbot engine is running for DB" in proc.stderr
        assert "oxbot run --headless" in proc.stderr and "Traceback" not in proc.stderr
