"""`oxbot` as a real subprocess, as users type it (issue 11, section 4): where the database is,
what happens when it is not there, damaged or on a full disk, and the small ones.

Each used to go wrong: `--db /missing/dir/x.db bots add` made the folder silently; `bots list`
on a missing file said "no bots yet"; `--db` after the command was refused; `oxbot doctor` said
nothing of garbage pages; a damaged database was "unexpected error, please report it";
`backtest --cash 1e30` crashed on decimal.InvalidOperation; a non-UTF-8 settings.json crashed
`run --headless`; `--live` on sim said "lIVE trading".
"""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from waiting import wait_until

OXBOT = [sys.executable, "-m", "oxbot.cli.main"]


def one_line(r: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr + r.stdout
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("oxbot: "), r.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def no_crash_report(home) -> None:
    assert not list((home.root / "log").glob("crash-*")), "an error was reported as a bug"


def test_a_missing_folder_needs_create_and_nothing_is_written(home) -> None:
    target = home.root / "missing" / "dir" / "x.db"
    for args in (
        ["--db", str(target), "bots", "add", "a"],
        ["bots", "add", "a", "--db", str(target)],
    ):
        r = home.cli(*args, db=False)
        one_line(r, 2, str(target.parent), "does not exist", "--create")
    assert not (home.root / "missing").exists()
    r = home.cli("--db", str(target), "--create", "bots", "add", "a", db=False)
    assert r.returncode == 0, r.stderr
    assert f"created the folder {target.parent}" in r.stderr
    assert (
        home.cli("bots", "list", "--db", str(target), db=False)
        .stdout.splitlines()[1]
        .startswith("a ")
    )


def test_listing_a_missing_file_says_it_is_missing(home) -> None:
    missing = home.root / "typo.db"
    for extra in ([], ["--json"]):
        r = home.cli("--db", str(missing), "bots", "list", *extra, db=False)
        line = one_line(r, 2, str(missing), "does not exist")
        assert "no bots yet" not in line and r.stdout == ""
        r = home.cli("--db", str(missing), "bots", "start", "a", db=False)
        one_line(r, 2, str(missing), "does not exist")
    assert not missing.exists()


def test_db_after_the_command_is_accepted_by_run_headless(home) -> None:
    home.add_bot("a")
    log = (home.root / "after.log").open("wb")
    proc = subprocess.Popen(
        [*OXBOT, "run", "--headless", "--db", str(home.db)],
        env=home.env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:

        def running() -> bool:
            text = (home.root / "after.log").read_text()
            assert proc.poll() is None, text
            return "engine running" in text

        wait_until(
            running,
            30,
            "'engine running' in the log",
            detail=lambda: (home.root / "after.log").read_text(),
        )
        r = home.cli("status")  # the engine of *this* database answers
        assert r.returncode == 0 and "bots" in r.stdout, r.stdout + r.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        log.close()


def test_live_on_sim_names_live_in_capitals(home) -> None:
    r = home.cli("bots", "add", "x", "--live", "--yes-i-mean-live")
    line = one_line(r, 2, "LIVE trading needs a real exchange")
    assert "lIVE" not in line


def test_backtest_with_absurd_cash_is_a_usage_error(home, tmp_path: Path) -> None:
    csv = tmp_path / "BTC-USDT_1h.csv"
    rows = ["timestamp,open,high,low,close,volume"]
    for i in range(300):
        px = 100 + (i % 24) - 12 * (i % 48 >= 24)
        rows.append(f"{1_704_067_200_000 + i * 3_600_000},{px},{px + 1},{px - 1},{px + 0.5},1")
    csv.write_text("\n".join(rows) + "\n")
    for cash in ("1e30", "1e13"):
        r = home.cli(
            "backtest",
            "--strategy",
            "sma_cross",
            "--param",
            "fast=2",
            "--param",
            "slow=5",
            "--data",
            str(csv),
            "--cash",
            cash,
        )
        one_line(r, 2, "--cash", "too large", "1,000,000,000,000")
    r = home.cli(
        "backtest",
        "--strategy",
        "sma_cross",
        "--param",
        "fast=2",
        "--param",
        "slow=5",
        "--data",
        str(csv),
        "--cash",
        "1e12",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    no_crash_report(home)


def _damage(db: Path, table: str) -> None:
    """Garbage over the root page of ``table``: the header and page 1 stay valid."""
    con = sqlite3.connect(db)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        (root,) = con.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)
        ).fetchone()
        (size,) = con.execute("PRAGMA page_size").fetchone()
    finally:
        con.close()
    data = bytearray(db.read_bytes())
    rng = random.Random(11)
    start = (root - 1) * size
    data[start : start + size] = bytes(rng.randrange(256) for _ in range(size))
    db.write_bytes(bytes(data))


def test_doctor_reads_every_page_and_a_damaged_database_is_one_line(home) -> None:
    home.add_bot("a", "--start")
    r = home.cli("doctor")
    assert r.returncode == 0 and "integrity  ok" in r.stdout, r.stdout
    _damage(home.db, "bots")
    r = home.cli("doctor")
    assert r.returncode == 1, r.stdout
    assert "integrity  DAMAGED" in r.stdout and "restore a backup" in r.stdout, r.stdout
    r = home.cli("bots", "list")
    one_line(r, 1, f"{home.db} is damaged", "oxbot doctor")
    r = home.cli("run", "--headless", timeout=60)
    lines = [line for line in r.stderr.splitlines() if line.startswith("oxbot: ")]
    assert r.returncode == 1 and len(lines) == 1, r.stderr
    assert f"{home.db} is damaged" in lines[0] and "oxbot doctor" in lines[0]
    assert "unexpected error" not in r.stderr and "Traceback" not in r.stderr
    no_crash_report(home)


def test_a_settings_file_that_is_not_utf8_or_too_deep_is_a_warning(home) -> None:
    config = home.root / "config"
    config.mkdir(exist_ok=True)
    home.add_bot("a")
    for content, says in (
        (b'{"theme": "oxbot-light\xff"}', "is not UTF-8 text"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ):
        (config / "settings.json").write_bytes(content)
        engine = home.spawn("run", "--headless")
        try:
            engine.wait_log(says)
            engine.wait_log("engine running")
            assert engine.terminate()[0] == 0
        finally:
            engine.close()
        assert "Traceback" not in engine.text()
    no_crash_report(home)


def test_stop_from_the_shell_keeps_or_closes_positions(home, fast_bots) -> None:
    keeper = ("keeper", *fast_bots[0][1:])
    closer = ("closer", *fast_bots[0][1:], "--on-stop", "close")
    for bot in (keeper, closer):
        home.add_bot(*bot, "--start")
    engine = home.spawn("run", "--headless", "--sim-speed", "max", "--status-every", "60")
    engine.wait_ready()

    def held(bot: str) -> list[tuple[str, str]]:
        return home.query(f"SELECT symbol, qty FROM positions WHERE bot = '{bot}'")

    wait_until(
        lambda: held("keeper") and held("closer"),
        60,
        "both bots to hold a position",
        detail=lambda: engine.text()[-2000:],
    )
    r = home.cli("bots", "stop", "keeper")  # its on_stop: keep
    assert r.returncode == 0, r.stderr
    kept = held("keeper")
    if kept:
        assert r.stdout.strip() == (
            f"keeper stopped; {len(kept)} position{'s' * (len(kept) > 1)}"
            " kept: stop-loss and take-profit are not watched until it "
            "runs again"
        )
    # the market goes on: the closer, on the same symbols, decides on 20 later candles
    stopped_at = home.query("SELECT MAX(ts) FROM decisions WHERE bot = 'closer'")[0][0] or 0
    wait_until(
        lambda: (
            home.query(
                f"SELECT COUNT(*) FROM decisions WHERE bot = 'closer' AND ts > {stopped_at}"
            )[0][0]
            >= 20
        ),
        60,
        "20 more candles decided by the running bot",
        detail=lambda: engine.text()[-2000:],
    )
    assert held("keeper") == kept  # stopped: nothing sells them, not even SL/TP
    r = home.cli("bots", "stop", "closer")  # its on_stop: close
    assert r.returncode == 0 and r.stdout.startswith("closer stopped"), r.stderr
    assert held("closer") == []
    exported = home.ok("bots", "export")
    assert '"on_stop": "close"' in exported and '"on_stop": "keep"' in exported
    assert engine.terminate()[0] == 0
