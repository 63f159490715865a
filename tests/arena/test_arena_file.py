"""The arena file: strict, and every mistake is one line naming FILE: KEY and the fix, before
anything runs (through `oxbot arena`, the real parser and error mapping: exit 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

GOOD_ARENA = """
[arena]
title = "t"
capital = 5000
market = "sim"
[arena.sim]
seed = 3
symbols = ["BTC/USDT"]
timeframe = "1h"
bars = 300
"""
RULE = """
[[contestant]]
name = "sma"
strategy = "sma_cross"
params = { fast = 5, slow = 20 }
"""


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            GOOD_ARENA.replace('title = "t"', 'title = "t"\ncapitl = 1') + RULE,
            "arena.capitl: unknown key; the keys here are: capital, csv, fee_rate, live, "
            "market, risk, sim, since, slippage_bps, title, until",
        ),
        (
            GOOD_ARENA.replace("bars = 300", "bars = 300\nsed = 1") + RULE,
            "arena.sim.sed: unknown key; the keys here are: bars, seed, symbols, timeframe",
        ),
        (
            GOOD_ARENA.replace('market = "sim"', 'market = "paper"') + RULE,
            "arena.market: Input should be 'csv', 'sim' or 'live'",
        ),
        (
            GOOD_ARENA.replace("capital = 5000", "capital = -1") + RULE,
            "arena.capital: Input should be greater than 0",
        ),
        (GOOD_ARENA, "contestant: none; add at least one [[contestant]] table"),
        (
            GOOD_ARENA + RULE.replace("fast = 5", "fast = 50"),
            "contestant[1] (sma).params: fast (50) must be shorter than slow (20)",
        ),
        (
            GOOD_ARENA + RULE.replace("fast = 5", "fat = 5"),
            "contestant[1] (sma).params: fat: unknown parameter",
        ),
        (
            GOOD_ARENA + RULE.replace('"sma_cross"', '"sma_crossing"'),
            "contestant[1] (sma).strategy: unknown strategy",
        ),
        (
            GOOD_ARENA + RULE.replace("params", "parms"),
            "contestant[1] (sma).parms: unknown key; a rule contestant has name, strategy, "
            "params, cadence_s",
        ),
        (
            GOOD_ARENA + RULE.replace('strategy = "sma_cross"', 'strategy = "llm"\nprovidr = "x"'),
            "contestant[1] (sma).providr: unknown key; an LLM contestant takes name, strategy, "
            "cadence_s and the LLM bot keys:",
        ),
        (
            GOOD_ARENA + '[[contestant]]\nname = "x"\nstrategy = "llm"\nprovider = "nope"\n',
            "contestant[1] (x): provider: Input should be",
        ),
        (
            GOOD_ARENA + '[[contestant]]\nname = "x"\n',
            'contestant[1] (x): give either strategy = "sma_cross"',
        ),
        (GOOD_ARENA + RULE + RULE, "contestant[2].name: 'sma' is taken; give another name"),
        (
            GOOD_ARENA + RULE.replace('"sma"', '"buy-hold"'),
            "contestant[1].name: 'buy-hold' is the baseline's; give another name",
        ),
        (GOOD_ARENA + RULE + "[[contestnt]]\n", "contestnt: unknown table"),
        (
            GOOD_ARENA + RULE.replace("[[contestant]]", "[[contestant]]\nrisk = 3"),
            "contestant[1] (sma).risk: unknown key",
        ),
        (
            GOOD_ARENA.replace("[arena.sim]", "[arena.risk]\nmax_position_pct = 200\n[arena.sim]")
            + RULE,
            "arena.risk.max_position_pct: Input should be less than or equal to 100",
        ),
        (
            GOOD_ARENA.replace('title = "t"', 'since = "yesterday"') + RULE,
            "arena.since 'yesterday' is not a date; use YYYY-MM-DD",
        ),
        (
            GOOD_ARENA.replace('market = "sim"', 'market = "csv"').replace("[arena.sim]", "[x]")
            + RULE,
            "x: unknown table",
        ),
        (
            '[arena]\nmarket = "csv"\n[arena.csv]\n"BTC/USDT" = "nowhere.csv"\n' + RULE,
            'arena.csv."BTC/USDT": no file',
        ),
        ("[arena\n", "not valid TOML"),
    ],
)
def test_a_bad_file_is_one_line_naming_the_key(
    home: Path, cli: Any, arena_file: Any, text: str, said: str
) -> None:
    path = arena_file(home / "a.toml", text)
    code, out, err = cli(str(path))
    assert code == 2, (out, err)
    line = one_line(err)
    assert line.startswith(f"oxbot: {path}: "), line
    assert said in line, line
    assert out == ""  # nothing ran: no table


def test_a_missing_file_says_so(home: Path, cli: Any) -> None:
    code, _out, err = cli(str(home / "none.toml"))
    assert code == 2
    assert "none.toml: no such file" in one_line(err)


def test_a_stored_bot_that_is_not_there_names_the_bots(
    home: Path, cli: Any, arena_file: Any
) -> None:
    path = arena_file(home / "a.toml", GOOD_ARENA + '[[contestant]]\nbot = "ghost"\n')
    code, _out, err = cli(str(path))
    assert code == 2
    assert "contestant[1].bot: no bot named 'ghost'" in one_line(err)


def test_sort_columns_are_the_models(home: Path, cli: Any) -> None:
    from oxbot.app.arena_model import SORT_KEYS
    from oxbot.cli.arena import SORT_CHOICES

    assert SORT_CHOICES == SORT_KEYS
    code, _out, err = cli("x.toml", "--sort", "luck")
    assert code == 2 and "invalid choice: 'luck'" in err


def test_bad_out_and_chart_paths_are_refused_first(home: Path, cli: Any, arena_file: Any) -> None:
    path = arena_file(home / "a.toml", GOOD_ARENA + RULE)
    code, out, err = cli(str(path), "--out", str(home / "r.txt"))
    assert code == 2 and "give a file ending in .csv, .json or .md" in one_line(err)
    code, out, err = cli(str(path), "--chart", str(home / "nowhere" / "c.svg"))
    assert code == 2 and "does not exist; create the folder first" in one_line(err)
    assert out == ""


def test_the_readme_shows_the_shipped_example() -> None:
    """README "Arena" quotes examples/arena.toml whole (the sim test runs that file)."""
    repo = Path(__file__).resolve().parents[2]
    readme = (repo / "README.md").read_text(encoding="utf-8")
    example = (repo / "examples" / "arena.toml").read_text(encoding="utf-8")
    section = readme.split("### Arena\n", 1)[1].split("\n### ", 1)[0]
    assert "```toml\n" + example + "```" in section
    assert "    oxbot arena examples/arena.toml\n" in section


def test_a_stored_bot_runs_its_strategy_on_the_arenas_terms(
    home: Path, arena_file: Any, capsys: Any
) -> None:
    """``bot = "NAME"``: the stored bot's strategy, params and cadence; the arena's market,
    capital, fees and risk limits (its own capital, symbols and fee are not used)."""
    import asyncio
    from decimal import Decimal

    from oxbot.app.arena import load_arena, run_arena
    from oxbot.engine.models import BotConfig, BotStatus
    from oxbot.storage.store import Store

    async def save() -> None:
        store = await Store.open(home / "bots.db")
        await store.save_bot(
            BotConfig(
                name="mine",
                symbols=("ETH/USDT",),
                timeframe="5m",
                strategy="sma_cross",
                params={"fast": 5, "slow": 20},
                capital=Decimal(777),
                fee_rate=Decimal("0.005"),
                cadence_s=7200,
            ),
            BotStatus.STOPPED,
        )
        await store.close()

    asyncio.run(save())
    text = GOOD_ARENA + '[[contestant]]\nbot = "mine"\n' + RULE
    spec = load_arena(arena_file(home / "a.toml", text))
    mine = spec.contestants[0]
    assert mine.name == "mine" and mine.kind == "rule" and mine.label == "sma_cross fast=5 slow=20"
    cfg = mine.config
    assert (cfg.symbols, cfg.timeframe, cfg.capital, cfg.fee_rate, cfg.cadence_s) == (
        ("BTC/USDT",),
        "1h",
        Decimal(5000),
        Decimal("0.001"),
        7200,
    )
    # The same parameters without the cadence trade more often: the cadence is the bot's.
    result = run_arena(spec)
    rows = {r.name: r for r in result.rows}
    assert rows["mine"].error is None and rows["sma"].error is None
    assert rows["mine"].trades != rows["sma"].trades or rows["mine"].pnl != rows["sma"].pnl
    # --db after the command, as `oxbot` parses it (cli/main.py adds it to every command).
    from oxbot.cli.main import main

    other = home / "other.db"
    assert main(["arena", str(home / "a.toml"), "--db", str(other)]) == 2  # no bot there
    assert "no database at" in capsys.readouterr().err
    assert main(["arena", str(home / "a.toml"), "--db", str(home / "bots.db")]) == 0
