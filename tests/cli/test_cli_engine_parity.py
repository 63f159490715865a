"""The same `oxbot bots ...` mistake gives the same exit code and words whether an engine runs
on the database or not; status/stop without an engine say only what is true."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest


def _bots_mistakes(oxbot) -> list[tuple[int, str, str]]:
    return [
        oxbot("bots", "start", "ghost"),
        oxbot("bots", "stop", "ghost"),
        oxbot("bots", "delete", "ghost"),
        oxbot("bots", "add", "twin"),
    ]


@pytest.fixture
async def engine(home: Path):
    from oxbot.app.runtime import RuntimeOptions, build_engine
    from oxbot.engine.market.sim import SimConfig
    from oxbot.remote.server import socket_path_for
    from oxbot.storage.paths import default_db_path, runtime_dir

    db = default_db_path()
    opts = RuntimeOptions(
        db_path=db, sim=SimConfig(speed=None), resume=False, snapshot_every_s=None
    )
    eng = await build_engine(opts, control_socket=socket_path_for(db.resolve(), runtime_dir()))
    task = asyncio.create_task(eng.run())
    await asyncio.wait_for(eng.ready.wait(), 20)
    yield eng
    eng.request_stop()
    await asyncio.wait_for(task, 20)
    await eng.store.close()


def test_offline_mistakes(oxbot) -> None:
    assert oxbot("bots", "add", "twin")[0] == 0
    results = _bots_mistakes(oxbot)
    for code, out, err in results:
        assert code == 2 and out == "" and err.startswith("oxbot: "), err
    assert "no bot named 'ghost'; see `oxbot bots list`" in results[0][2]
    assert "a bot named 'twin' already exists" in results[3][2]


async def test_same_mistakes_same_words_with_a_running_engine(oxbot, home, engine) -> None:
    code, out, err = await asyncio.to_thread(oxbot, "bots", "add", "twin")
    assert code == 0, err
    assert out.startswith("added twin (sma_cross on sim BTC/USDT 1m, paper)")  # as offline
    results = await asyncio.to_thread(_bots_mistakes, oxbot)
    for code, out, err in results:
        assert code == 2 and out == "" and err.startswith("oxbot: "), err
    assert "no bot named 'ghost'; see `oxbot bots list`" in results[0][2]
    assert "a bot named 'twin' already exists" in results[3][2]
    code, out, err = await asyncio.to_thread(oxbot, "bots", "start", "twin")
    assert (code, out) == (0, "twin started\n"), err
    code, out, err = await asyncio.to_thread(oxbot, "bots", "delete", "twin")
    assert (code, out) == (0, "deleted twin (history kept)\n"), err


def test_status_json_without_an_engine_is_parseable_and_exits_1(oxbot) -> None:
    code, out, err = oxbot("status", "--json")
    assert code == 1
    assert json.loads(out)["state"] == "stopped"
    assert "no oxbot engine is running" in err


def test_stop_without_an_engine_prints_only_the_error(oxbot) -> None:
    code, out, err = oxbot("stop")
    assert code == 1 and out == ""
    assert err.startswith("oxbot: no oxbot engine is running")


def test_status_labels_trades_as_round_trips() -> None:
    from oxbot.cli.remote import format_status

    text = format_status({"state": "running", "trades": 4, "cycles": 9}, Path("/tmp/s"))
    assert "round trips  4" in text and "\ntrades" not in text
