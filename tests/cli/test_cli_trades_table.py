"""`oxbot trades` as text fits a 120-column terminal (issue 14 tryout: with ISO times the row of
a two-symbol bot wrapped at 121 columns): times to the minute, UTC, the exit without its date
on the entry's day; --json keeps the exact ISO 8601 times. The database is crafted with the real
Store API (tests/support/audit_db.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from audit_db import Craft, crafted

from .conftest import Run


# The crafted trip ends ``hold_h`` hours after it starts, 19 h before the wall clock: a 2 h trip
# crosses midnight only when the test runs between 17:00 and 19:00 UTC (CI failed once at 17:xx
# when the bound was tighter than 120); a 30 h trip always ends on another day, where the exit
# keeps its date and the row is widest.
@pytest.mark.parametrize("hold_h", [2, 30])
def test_the_trades_table_fits_120_columns_and_keeps_its_times(
    oxbot: Run, home: Path, hold_h: int
) -> None:
    db = crafted(home, Craft(name="a-rather-long-bot-name", hold_h=hold_h))
    code, out, err = oxbot("--db", db, "trades")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["BOT", "SYMBOL", "ENTRY", "(UTC)"]
    assert max(len(line) for line in lines) <= 120
    code, raw, _ = oxbot("--db", db, "trades", "--json")
    (trip,) = json.loads(raw)["trades"]
    entry = datetime.fromtimestamp(trip["entry_ts"] / 1000, UTC)
    exit_ = datetime.fromtimestamp(trip["exit_ts"] / 1000, UTC)
    row = lines[1]
    assert entry.strftime("%Y-%m-%d %H:%M") in row
    assert (
        exit_.strftime("%H:%M")
        if exit_.date() == entry.date()
        else exit_.strftime("%Y-%m-%d %H:%M")
    ) in row
    assert trip["entry_time"] == entry.strftime("%Y-%m-%dT%H:%M:%SZ")  # --json unchanged
