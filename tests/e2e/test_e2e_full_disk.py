"""A full disk, for real: the database lives on a tiny tmpfs (mounted by the test, which needs
root; skipped otherwise, saying so) that is then filled to the last byte, so SQLite meets
ENOSPC / SQLITE_FULL exactly as on a user's full disk.

It used to be reported as "writing ... failed: database or disk is full" deep in a traceback,
as "disk I/O error" (which reads as damage) by doctor, and a bot whose hold cycles wrote nothing
in between never reached its error limit: each such cycle ended its run of failures. And
`bots import` wrote bot by bot, so a failure half-way left half an import.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def tiny_disk(home) -> Iterator[Path]:
    """A 1 MiB tmpfs under the test's home; unmounted afterwards."""
    mount = home.root / f"disk-{uuid.uuid4().hex[:6]}"
    mount.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill (needs root): {r.stderr.strip()}")
    try:
        yield mount
    finally:
        for engine in home.engines:
            engine.close()
        for _ in range(50):
            if subprocess.run(["umount", str(mount)], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)


def fill(disk: Path) -> None:
    """Write zeros until the disk has no byte left."""
    with contextlib.suppress(OSError), (disk / "filler").open("wb", buffering=0) as f:
        while True:
            f.write(b"\0" * 4096)


def test_a_full_disk_is_said_and_the_error_limit_trips(home, tiny_disk) -> None:
    home.db = tiny_disk / "oxbot.db"
    # a calm bot: most cycles are holds that write nothing; every 60th writes its equity
    home.add_bot(
        "calm", "--strategy", "sma_cross", "--param", "fast=10", "--param", "slow=30", "--start"
    )
    engine = home.spawn("run", "--headless", "--sim-speed", "max", "--status-every", "60")
    engine.wait_log("engine running", 60)
    fill(tiny_disk)
    line = engine.wait_log(r"calm: cycle failed .*", 60).group(0)
    assert f"the disk holding {home.db} is full" in line, line
    # the holds in between no longer end the run of failures: the limit trips
    engine.wait_log(r"calm: 20 cycles failed in a row, bot stopped", 90)
    text = engine.text()
    assert "malformed" not in text and "damaged" not in text and "Traceback" not in text
    r = home.cli("doctor")
    assert r.returncode == 1 and "disk       FULL" in r.stdout, r.stdout
    assert "DAMAGED" not in r.stdout
    assert engine.terminate()[0] in (0, 1)
    (tiny_disk / "filler").unlink()
    r = home.cli("doctor")
    assert r.returncode == 0 and "integrity  ok" in r.stdout, r.stdout


def test_bots_import_is_all_or_nothing(home, tiny_disk, tmp_path: Path) -> None:
    home.db = tiny_disk / "oxbot.db"
    home.add_bot("first")
    bots = [
        {
            "name": f"imported-{i:04d}",
            "strategy": "sma_cross",
            "params": {"fast": 5, "slow": 20},
            "symbols": ["BTC/USDT"],
        }
        for i in range(3000)
    ]  # more than the disk holds once it is nearly full
    export = tmp_path / "bots.json"
    export.write_text(json.dumps(bots))
    with contextlib.suppress(OSError), (tiny_disk / "filler").open("wb", buffering=0) as f:
        while f.tell() < 700 * 1024:  # most of the disk: a few dozen bots still fit
            f.write(b"\0" * 4096)
    r = home.cli("bots", "import", str(export))
    assert r.returncode == 1, (r.stdout, r.stderr)
    lines = [line for line in r.stderr.splitlines() if line.startswith("oxbot: ")]
    assert len(lines) == 1 and f"the disk holding {home.db} is full" in lines[0], r.stderr
    (tiny_disk / "filler").unlink()
    listed = home.cli("bots", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [b["name"] for b in json.loads(listed.stdout)] == ["first"]  # none of the import
