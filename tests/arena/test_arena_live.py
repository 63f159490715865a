"""The arena on live paper data (market = "live"): PAPER bots arena-<contestant> in the real
engine built by the real composition root, on the live candles of the project's fake Binance
(tests/exchange_e2e/e2e_support.py ClockedFake: one 1m candle closes every 0.1 s of wall time),
pointed at it the way a user points oxbot at a testnet: settings.json's ``exchanges`` entry
(tests/exchange_e2e/campaign.py write_settings). The board is read from each bot's ledger.

The arena runs on a thread (as the CLI and the cockpit's worker run it) while the fake serves on
the test's loop."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from module_loading import load_by_path

from oxbot.engine.errors import UsageError

_E2E = Path(__file__).resolve().parents[1] / "exchange_e2e"
sup = load_by_path("_oxbot_exchange_e2e_e2e_support", _E2E / "e2e_support.py")
camp = load_by_path("_oxbot_exchange_e2e_campaign", _E2E / "campaign.py")

LIVE = """
[arena]
title = "Live duel"
capital = 10000
market = "live"
[arena.live]
exchange = "binance"
symbols = ["BTC/USDT"]
timeframe = "1m"
duration = "{duration}"
[[contestant]]
name = "flip"
strategy = "e2e_flip"
[[contestant]]
name = "sma"
strategy = "sma_cross"
params = {{ fast = 2, slow = 4 }}
"""


@pytest.fixture
async def fake(home: Path) -> AsyncIterator[Any]:
    """The fake Binance on a fast clock, and the user's settings sending binance to it."""
    server = sup.ClockedFake(clock=sup.SpeedClock(speed=600))
    server.api_key += secrets.token_hex(6)
    server.retry_after_s = 0
    await server.start()
    camp.write_settings(home / "home", server)
    yield server
    await server.stop()


def data_dbs(home: Path) -> list[Path]:
    return sorted((home / "home" / "data").glob("arena-live-duel-*.db"))


async def ledger(db: Path) -> dict[str, list[Any]]:
    from oxbot.storage.store import Store

    store = await Store.open(db, writer=False)
    try:
        return {c.name: await store.load_fills(c.name) for c, _ in await store.load_bots()}
    finally:
        await store.close()


async def test_the_board_updates_live_from_each_bots_ledger_and_stops_on_cancel(
    fake: Any, home: Path, arena_file: Any
) -> None:
    from oxbot.app.arena import ArenaOptions, load_arena, run_arena
    from oxbot.engine.portfolio import Portfolio

    spec = load_arena(arena_file(home / "live.toml", LIVE.format(duration="60s")))
    assert [c.config.name for c in spec.contestants] == ["arena-flip", "arena-sma"]
    cancel = threading.Event()
    boards: list[Any] = []

    def progress(r: Any) -> None:
        boards.append(dataclasses.replace(r, rows=list(r.rows)))
        flip = next(x for x in r.rows if x.name == "flip")
        if flip.trades >= 3:
            cancel.set()  # long before the 60 s: the cockpit's escape, Ctrl-C

    opts = ArenaOptions(cancel=cancel, board_every_s=0.2)
    result = await asyncio.wait_for(asyncio.to_thread(run_arena, spec, progress, opts), 40)

    # the board was handed over while it ran, every contestant and the baseline on it
    assert len(boards) >= 3
    assert all([x.name for x in b.rows] == ["flip", "sma", "buy-hold"] for b in boards)
    assert [b.rows[0].trades for b in boards] == sorted(b.rows[0].trades for b in boards)
    assert all(b.done == 0 and b.total == 3 and 0 <= b.fraction < 1 for b in boards)
    # stopped by cancel: the final board, read from the ledger after the engine stopped
    assert result.done == result.total == 3 and result.fraction == 1.0
    rows = {r.name: r for r in result.rows}
    assert rows["flip"].trades >= 3 and rows["flip"].error is None
    assert rows["buy-hold"].kind == "baseline" and rows["buy-hold"].trades == 1
    assert result.market == "live binance paper 60s"
    [db] = data_dbs(home)
    fills = await ledger(db)
    assert set(fills) == {"arena-flip", "arena-sma"}
    # each bot's own ledger: its fills are its own, none shared, trades counted from them
    assert fills["arena-flip"] and all(f.bot == "arena-flip" for f in fills["arena-flip"])
    assert all(f.bot == "arena-sma" for f in fills["arena-sma"])
    ids = [f.client_order_id for fs in fills.values() for f in fs]
    assert len(ids) == len(set(ids))
    for name, row in rows.items():
        if name == "buy-hold":
            continue
        p = Portfolio.from_fills(spec.capital, fills[f"arena-{name}"])
        assert row.trades == p.trades
        assert row.fees == p.fees
    assert not fake.orders  # PAPER: no order reached the exchange
    # the baseline's equity follows the candles the bots got
    base = next(c for c in result.curves if c.name == "buy-hold")
    assert len(base.ts) >= 3 and base.ts == sorted(base.ts)


async def test_oxbot_arena_runs_live_for_its_duration_and_a_rerun_gets_a_new_database(
    fake: Any, home: Path, arena_file: Any, cli: Any
) -> None:
    path = arena_file(home / "live.toml", LIVE.format(duration="3s"))
    out = home / "board.json"
    code, stdout, err = await asyncio.wait_for(
        asyncio.to_thread(cli, str(path), "--out", str(out)), 40
    )
    assert code == 0, err
    assert "live arena on binance: 2 PAPER bots for 3s" in err
    assert "buy-hold (base)" in stdout and "flip" in stdout
    board = json.loads(out.read_text())
    assert {r["name"] for r in board["rows"]} == {"flip", "sma", "buy-hold"}
    code, _, err = await asyncio.wait_for(
        asyncio.to_thread(cli, str(path), "--chart", str(home / "e.svg")), 40
    )
    assert code == 0, err
    assert len(data_dbs(home)) == 2  # each run its own file, named after the arena
    assert (home / "e.svg").read_text().startswith("<svg")


async def test_a_given_database_that_holds_the_arena_bots_is_refused(
    fake: Any, home: Path, arena_file: Any, cli: Any
) -> None:
    text = LIVE.format(duration="2s").replace('duration = "2s"', 'duration = "2s"\ndb = "a.db"')
    path = arena_file(home / "live.toml", text)
    code, _, err = await asyncio.wait_for(asyncio.to_thread(cli, str(path)), 40)
    assert code == 0, err
    assert (home / "a.db").is_file()
    code, _, err = await asyncio.wait_for(asyncio.to_thread(cli, str(path)), 40)
    assert code == 2
    assert f"{home / 'a.db'}: already holds bot arena-flip (an earlier arena run)" in err


async def test_live_mode_is_refused(home: Path, arena_file: Any, cli: Any) -> None:
    from oxbot.app.arena import load_arena, run_arena
    from oxbot.engine.models import Mode

    text = LIVE.format(duration="2s").replace('duration = "2s"', 'duration = "2s"\nmode = "live"')
    code, _, err = cli(str(arena_file(home / "m.toml", text)))
    assert code == 2
    assert "arena.live.mode: 'live'; an arena trades PAPER only" in err
    spec = load_arena(arena_file(home / "ok.toml", LIVE.format(duration="2s")))
    c = spec.contestants[0]
    live = dataclasses.replace(c, config=c.config.model_copy(update={"mode": Mode.LIVE}))
    bad = dataclasses.replace(spec, contestants=[live, *spec.contestants[1:]])
    with pytest.raises(UsageError, match="contestant flip: mode live; an arena trades PAPER"):
        run_arena(bad)
    assert not (home / "home" / "data").exists() or not data_dbs(home)


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        (
            'duration = "2s"',
            'duration = "2s"\nsymbol = "x"',
            "arena.live.symbol: unknown key; the keys here are: db, duration, exchange, mode, "
            "symbols, timeframe",
        ),
        ('duration = "2s"\n', "", "arena.live.duration: missing; add it"),
        ('"2s"', '"6 hours"', "arena.live.duration: '6 hours' is not a duration; write it"),
        ('"2s"', '"0s"', "arena.live.duration: 0s; give 1s to 90d"),
        ('"1m"', '"7q"', "arena.live.timeframe:"),
        ('"binance"', '"sim"', 'arena.live.exchange: "sim" is not an exchange'),
        ('["BTC/USDT"]', '["BTCUSDT"]', "arena.live.symbols: symbol 'BTCUSDT' must look like"),
        ('market = "live"', 'market = "live"\nsince = "2024-01-01"', "arena.since: not with"),
        ('market = "live"', 'market = "sim"', 'arena.live: only with market = "live"'),
        ("[arena.live]", "[arena.liv]", "arena.liv: unknown key; the keys here are:"),
        ('name = "flip"', 'name = "a-very-long-contestant-name-of-40-chars"', "at most 34"),
    ],
)
def test_bad_live_keys_are_refused_in_one_line(
    home: Path, arena_file: Any, cli: Any, old: str, new: str, said: str
) -> None:
    text = LIVE.format(duration="2s")
    assert old in text
    path = arena_file(home / "bad.toml", text.replace(old, new, 1))
    code, _, err = cli(str(path))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"oxbot: {path}: "), err
    assert said in lines[0]
    if 'market = "live"' not in text.replace(old, new, 1):
        return
    market = '[arena]\ntitle = "x"\nmarket = "live"\n[[contestant]]\nstrategy = "sma_cross"\n'
    code, _, err = cli(str(arena_file(home / "nolive.toml", market)))
    assert code == 2 and "arena.live: missing; add [arena.live]" in err


LLM = """
[[contestant]]
name = "gpt"
strategy = "llm"
provider = "openai"
model = "gpt-4o-mini"
"""


class Escape(Exception):
    """What the cockpit's progress callback raises once escape is pressed."""


async def test_a_raising_progress_stops_the_engine_and_a_bot_that_cannot_start_is_an_error_row(
    fake: Any, home: Path, arena_file: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from oxbot.app.arena import ArenaOptions, load_arena, run_arena
    from oxbot.storage.store import Store

    monkeypatch.delenv("OXBOT_OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    spec = load_arena(arena_file(home / "live.toml", LIVE.format(duration="60s") + LLM))
    boards: list[Any] = []

    def progress(r: Any) -> None:
        boards.append(r)
        raise Escape

    opts = ArenaOptions(board_every_s=0.2, paid=True)  # the CLI's --yes
    with pytest.raises(Escape):
        await asyncio.wait_for(asyncio.to_thread(run_arena, spec, progress, opts), 40)
    [board] = boards
    rows = {r.name: r for r in board.rows}
    # no key for the model: its bot could not start, the others run
    assert rows["gpt"].error is not None and "arena-gpt not resumed" in rows["gpt"].error
    assert rows["gpt"].error.count("openai") >= 1
    assert rows["flip"].error is None and rows["sma"].error is None
    [db] = data_dbs(home)
    store = await Store.open(db)  # the engine let go of the database (its writer lock)
    await store.close()


def test_the_readme_live_example_is_a_valid_arena(home: Path, arena_file: Any) -> None:
    from oxbot.app.arena import load_arena

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Arena\n", 1)[1].split("\n### ", 1)[0]
    blocks = [b.split("```", 1)[0] for b in section.split("```toml\n")[1:]]
    text = (
        next(b for b in blocks if 'market = "live"' in b)
        + '[[contestant]]\nstrategy = "sma_cross"\n'
    )
    spec = load_arena(arena_file(home / "readme.toml", text))
    assert (spec.market, spec.duration_s, spec.db) == ("live", 6 * 3600, None)
    assert spec.symbols == ("BTC/USDT", "ETH/USDT")
    assert spec.contestants[0].config.name == "arena-sma_cross"


@pytest.mark.slow  # a child process importing oxbot: some 6-9 s
async def test_ctrl_c_stops_oxbot_arena_and_prints_the_final_board(
    fake: Any, home: Path, arena_file: Any
) -> None:
    """`oxbot arena` in its own process: SIGINT (Ctrl-C) once the bots traded stops the engine;
    the final board is printed and exported, exit 0."""
    import os
    import signal
    import sys
    from decimal import Decimal

    from waiting import wait_for

    from oxbot.engine.portfolio import Portfolio

    # the child process knows only the built-in strategies (e2e_flip is registered in this one)
    text = LIVE.format(duration="10m").replace(
        'strategy = "e2e_flip"', 'strategy = "sma_cross"\nparams = { fast = 3, slow = 7 }'
    )
    path = arena_file(home / "live.toml", text)
    out = home / "board.json"
    env = {**os.environ, "OXBOT_HOME": str(home / "home"), "OXBOT_DB": str(home / "bots.db")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "oxbot.cli.main",
        "arena",
        str(path),
        "--out",
        str(out),
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        traded: list[int] = [0]

        async def count() -> None:
            dbs = data_dbs(home)
            if dbs:
                try:
                    fills = await ledger(dbs[0])
                except Exception:  # noqa: BLE001 - not created yet
                    return
                trips = Portfolio.from_fills(Decimal(10000), fills.get("arena-flip", []))
                traded[0] = trips.trades

        async def poll() -> None:
            await count()
            await asyncio.sleep(0.2)

        def traded_or_exited() -> bool:
            assert proc.returncode is None, "oxbot arena exited"
            return traded[0] >= 1

        await wait_for(traded_or_exited, 30, "a round trip of the flip bot", pause=poll)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, stderr.decode()
    assert "buy-hold (base)" in stdout.decode() and "flip" in stdout.decode()
    rows = {r["name"]: r for r in json.loads(out.read_text())["rows"]}
    assert rows["flip"]["trades"] >= 1 and rows["buy-hold"]["trades"] == 1


def test_a_paid_model_is_not_called_live_without_leave(
    home: Path, arena_file: Any, cli: Any
) -> None:
    from oxbot.app.arena import load_arena, run_arena

    path = arena_file(home / "llm.toml", LIVE.format(duration="2s") + LLM)
    with pytest.raises(UsageError, match="gpt would call a paid model live"):
        run_arena(load_arena(path))  # the cockpit's call: no leave
    code, _, err = cli(str(path))  # off a terminal, without --yes
    assert code == 2 and "gpt would call a paid model live" in err and "--yes" in err
    for flag in (["--cache-only"], ["--max-cost", "1"]):
        code, _, err = cli(str(path), *flag)
        assert code == 2 and "a live arena has no" in err
    assert not data_dbs(home)  # nothing started
