"""Bad input never writes and never shows a traceback: invalid bot parameters, unknown strategy or
exchange, a malformed `--param`, malformed or unordered CSV files, a database locked by a running
engine, and a database from a newer oxbot. One clear `oxbot: ...` line each; exit 2 for usage
errors, 1 for a database that cannot be used."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest


def db_files(home) -> dict[str, str | None]:
    """Hashes of the database and its WAL; an empty WAL counts as none (it holds nothing)."""

    def digest(p: Path) -> str | None:
        data = p.read_bytes() if p.exists() else b""
        return hashlib.sha256(data).hexdigest() if data else None

    return {suffix: digest(Path(f"{home.db}{suffix}")) for suffix in ("", "-wal")}


def one_clear_line(r: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr + r.stdout
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("oxbot: "), r.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


BAD_BOTS = [
    (["--strategy", "sma_cross", "--param", "fast=50", "--param", "slow=10"], ("fast", "slow")),
    (["--strategy", "no_such_strategy"], ("no_such_strategy", "sma_cross")),
    (["--param", "fast"], ("fast", "KEY=VALUE")),
    (["--strategy", "rsi_reversion", "--param", "oversold=80"], ("oversold",)),
    (["--strategy", "sma_cross", "--param", "nope=3"], ("nope",)),
    (["--capital", "-5"], ("capital",)),
    (["--symbols", "BTCUSDT"], ("BTCUSDT", "BASE/QUOTE")),
    (["--timeframe", "7x"], ("7x",)),
    (["--exchange", "no_such_exchange"], ("no_such_exchange",)),
    (["--live"], ("--yes-i-mean-live",)),
]


@pytest.fixture
def seeded(home):
    home.add_bot("keep", "--strategy", "sma_cross")
    return home


def test_bad_bot_parameters_change_nothing(seeded):
    home = seeded
    before = db_files(home)
    cases = [(("bots", "add", "x", *args), words) for args, words in BAD_BOTS] + [
        (("bots", "add", "keep"), ("keep", "already exists")),
        (("bots", "start", "ghost"), ("ghost",)),
        (("run", "--headless", "--sim-speed", "fast"), ("--sim-speed",)),
    ]
    # in parallel: each is a cold `oxbot` start (~0.8 s); they only read the database
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda case: home.cli(*case[0]), cases))
    for (_, words), r in zip(cases, results, strict=True):
        one_clear_line(r, 2, *words)
    assert db_files(home) == before
    assert [r[0] for r in home.query("SELECT name FROM bots")] == ["keep"]


def test_bad_csv_is_a_clear_usage_error(home, tmp_path):
    header = "timestamp,open,high,low,close,volume\n"
    ms = 1_700_000_000_000
    cases: dict[str, str | None] = {
        "unordered.csv": header + f"{ms + 60_000},1,2,0.5,1.5,10\n{ms},1,2,0.5,1.5,10\n",
        "text.csv": header + f"{ms},1,2,x,1.5,10\n",
        "header.csv": "ts;open\n1;2\n",
        "empty.csv": "",
    }
    cases["missing.csv"] = None
    for name, body in cases.items():
        if body is not None:
            (home.root / name).write_text(body)

    def backtest(name: str) -> subprocess.CompletedProcess[str]:
        return home.cli(
            "backtest",
            "--strategy",
            "sma_cross",
            "--data",
            str(home.root / name),
            "--trades-out",
            str(home.root / "t.csv"),
        )

    with ThreadPoolExecutor(4) as pool:
        for name, r in zip(cases, pool.map(backtest, cases), strict=True):
            one_clear_line(r, 2, name)
    assert not (home.root / "t.csv").exists()
    assert not home.db.exists()  # a backtest never touches the ledger


def test_locked_database_second_engine_refused(seeded):
    home = seeded
    engine = home.spawn("run", "--headless", "--sim-speed", "60")
    engine.wait_ready()
    r = home.cli("run", "--headless", "--sim-speed", "60", timeout=20)
    line = one_clear_line(r, 1, str(home.db))
    assert "another oxbot engine" in line and "oxbot stop" in line
    assert engine.proc.poll() is None  # the first engine is untouched
    assert engine.status()["bots_total"] == 1
    code, _ = engine.terminate()
    assert code == 0


def test_newer_schema_is_refused_and_left_byte_identical(seeded):
    home = seeded
    con = sqlite3.connect(home.db)
    con.execute("UPDATE schema_version SET version = 999")
    con.commit()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    before = db_files(home)
    for args in (("bots", "list"), ("bots", "add", "y"), ("run", "--headless"), ("bots", "export")):
        one_clear_line(home.cli(*args), 1, "999", "upgrade oxbot")
    assert db_files(home) == before
