"""`oxbot db migrate` copies a ledger exactly, through the real command (a subprocess) on a ledger
the real engine wrote: two PAPER bots traded a seeded random walk over the live engine at max
speed, one of them then had a deposit, the other was soft-deleted and a new bot took its name.
The copy's counts and checksum equal the source's, the target opens as a normal database with
the same fills and cash, and the refusals (non-empty target, same file, missing source, a
newer schema) write nothing."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from oxbot.app import dbcopy
from oxbot.engine.engine import Engine
from oxbot.engine.market.hub import MarketHub
from oxbot.engine.market.sim import SimConfig
from oxbot.engine.models import BotConfig, BotStatus, CapitalFlow, RiskLimits
from oxbot.storage.copy import canonical
from oxbot.storage.store import Store

pytestmark = pytest.mark.slow


def walk(path: Path, n: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(np.repeat(rng.normal(0, 0.006, n // 40 + 1), 40)[:n]))
    ts = 1_700_000_000_000 + np.arange(n, dtype=np.int64) * 3_600_000
    frame = pd.DataFrame(
        {
            "timestamp": ts,
            "open": close,
            "high": close * 1.004,
            "low": close * 0.996,
            "close": close,
            "volume": 1.0,
        }
    )
    frame.to_csv(path, index=False)
    return str(path)


async def traded_ledger(db: Path, tmp: Path) -> None:
    csv = {"BTC/USDT": walk(tmp / "btc.csv", 900, 3), "ETH/USDT": walk(tmp / "eth.csv", 900, 4)}
    store = await Store.open(db)
    limits = RiskLimits(stop_loss_pct=Decimal("1.5"), take_profit_pct=Decimal(3))
    for name, strategy, params, symbols in (
        ("a", "sma_cross", {"fast": 5, "slow": 20}, ("BTC/USDT", "ETH/USDT")),
        ("b", "rsi_reversion", {"length": 14}, ("ETH/USDT",)),
    ):
        cfg = BotConfig(
            name=name,
            symbols=symbols,
            timeframe="1h",
            strategy=strategy,
            params=params,
            risk=limits,
            slippage_bps=Decimal(5),
        )
        await store.save_bot(cfg, BotStatus.RUNNING)
    hub = MarketHub(SimConfig(speed=None, max_candles=500, csv=csv))
    engine = Engine(store, hub, snapshot_every_s=None)
    run = asyncio.create_task(engine.run())
    await asyncio.wait_for(engine.ready.wait(), 30)
    async with asyncio.timeout(300):
        while not hub._streams or not all(s.ended for s in hub._streams.values()):
            await asyncio.sleep(0.01)
    engine.request_stop()
    await run
    # a deposit on a, and b deleted (its history kept) with a new b in its place
    configs = {c.name: c for c, _ in await store.load_bots()}
    a = configs["a"]
    flow = CapitalFlow("a", 1_800_000_000_000, Decimal(500), a.capital + 500, a.capital)
    await store.save_bot(
        a.model_copy(update={"capital": a.capital + 500}), BotStatus.STOPPED, flow=flow
    )
    assert await store.delete_bot("b")
    await store.save_bot(configs["b"], BotStatus.STOPPED)
    await store.close()


def oxbot(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OXBOT_HOME": str(home)}
    env.pop("OXBOT_DB", None)
    return subprocess.run(
        [sys.executable, "-m", "oxbot.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def table_rows(db: Path) -> dict[str, list[tuple[object, ...]]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        names = [
            r[0]
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")
        ]
        return {n: conn.execute(f"SELECT * FROM {n} ORDER BY 1").fetchall() for n in names}
    finally:
        conn.close()


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("ledger")
    db = tmp / "old.db"
    asyncio.run(traded_ledger(db, tmp))
    return db


def test_migrate_copies_every_row_exactly(ledger: Path, tmp_path: Path) -> None:
    before = table_rows(ledger)
    assert len(before["fills"]) >= 10, "the engine should have traded"
    assert before["decisions"] and before["equity_points"] and before["orders"]
    assert len(before["capital_flows"]) == 1 and len(before["bots"]) == 3  # a deleted b kept
    new = tmp_path / "new" / "copy.db"
    new.parent.mkdir()
    done = oxbot("db", "migrate", "--from", str(ledger), "--to", str(new), "--json", home=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["exact"] is True
    assert report["checksum_before"] == report["checksum_after"]
    assert report["rows"]["fills"] == len(before["fills"])
    after = table_rows(new)
    for name, rows in before.items():
        if name == "schema_version":
            continue  # the target's own
        assert after[name] == rows, name  # byte for byte: the same text of every Decimal
    assert table_rows(ledger) == before  # the source was only read
    # the target is a normal database: the same checksum from `oxbot db checksum`
    check = oxbot("db", "checksum", str(new), "--json", home=tmp_path)
    assert check.returncode == 0, check.stderr
    assert json.loads(check.stdout)["checksum"] == report["checksum_before"]


def test_the_copy_reopens_with_the_same_cash_and_positions(ledger: Path, tmp_path: Path) -> None:
    new = tmp_path / "copy.db"
    assert asyncio.run(dbcopy.migrate(str(ledger), f"sqlite:///{new}")).before.checksum

    async def books(db: Path) -> dict[str, tuple[object, ...]]:
        store = await Store.open(db, writer=False)
        try:
            out = {}
            for name in ("a", "b"):
                fills = await store.load_fills(name)
                out[name] = (
                    sum((f.fee for f in fills), Decimal(0)),
                    [(f.fill_id, f.qty, f.price) for f in fills],
                    await store.fill_count(name),
                )
            return out
        finally:
            await store.close()

    assert asyncio.run(books(new)) == asyncio.run(books(ledger))


def test_a_target_that_holds_a_ledger_is_refused_untouched(ledger: Path, tmp_path: Path) -> None:
    full = tmp_path / "full.db"
    assert (
        oxbot("db", "migrate", "--from", str(ledger), "--to", str(full), home=tmp_path).returncode
        == 0
    )
    before = table_rows(full)
    again = oxbot("db", "migrate", "--from", str(ledger), "--to", str(full), home=tmp_path)
    assert again.returncode == 1
    assert "already holds" in again.stderr and "nothing was written" in again.stderr
    assert "Traceback" not in again.stderr
    assert table_rows(full) == before


@pytest.mark.parametrize(
    ("src", "dst", "said"),
    [
        ("missing.db", "x.db", "does not exist"),
        ("{ledger}", "{ledger}", "same database"),
        ("mysql://u@h/db", "x.db", "unknown database scheme"),
    ],
)
def test_bad_arguments_say_what_and_write_nothing(
    ledger: Path, tmp_path: Path, src: str, dst: str, said: str
) -> None:
    before = table_rows(ledger)
    src, dst = src.format(ledger=ledger), dst.format(ledger=ledger)
    if not src.startswith(("/", "mysql")):
        src = str(tmp_path / src)
    if not dst.startswith("/"):
        dst = str(tmp_path / dst)
    done = oxbot("db", "migrate", "--from", src, "--to", dst, home=tmp_path)
    assert done.returncode == 1, done.stdout
    assert said in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "x.db").exists()
    assert table_rows(ledger) == before


def test_a_newer_source_is_refused(ledger: Path, tmp_path: Path) -> None:
    newer = tmp_path / "newer.db"
    newer.write_bytes(ledger.read_bytes())
    conn = sqlite3.connect(newer)
    conn.execute("UPDATE schema_version SET version = version + 1")
    conn.commit()
    conn.close()
    done = oxbot(
        "db", "migrate", "--from", str(newer), "--to", str(tmp_path / "t.db"), home=tmp_path
    )
    assert done.returncode == 1
    assert "newer than this oxbot" in done.stderr
    assert not (tmp_path / "t.db").exists()


def test_canonical_values_compare_amounts_not_text() -> None:
    assert canonical(Decimal("1.50")) == canonical(Decimal("1.5000")) == "1.5"
    assert canonical(Decimal("0E-8")) == canonical(Decimal(0)) == "0"
    assert canonical(Decimal("1E+2")) == "100"
    assert canonical(True) == 1 and canonical(False) == 0
    assert canonical(Decimal("1.5")) != canonical(Decimal("1.50000001"))
