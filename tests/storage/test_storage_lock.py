"""One writing engine per database: a second one gets a clear DatabaseLocked naming the pid."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from oxbot.engine.errors import DatabaseLocked
from oxbot.storage.lock import WriterLock
from oxbot.storage.store import Store

_HOLD = """
import asyncio, sys
from oxbot.storage.store import Store
async def main():
    store = await Store.open(sys.argv[1])
    print("READY", flush=True)
    await asyncio.sleep(600)
asyncio.run(main())
"""

_TRY_OPEN = """
import asyncio, sys
from oxbot.engine.errors import DatabaseLocked
from oxbot.storage.store import Store
async def main():
    try:
        await Store.open(sys.argv[1])
    except DatabaseLocked as e:
        print(e)
        sys.exit(3)
asyncio.run(main())
"""


async def test_second_open_in_same_process_is_locked(db_path: Path) -> None:
    async with await Store.open(db_path):
        with pytest.raises(DatabaseLocked) as err:
            await Store.open(db_path)
    text = str(err.value)
    assert f"pid {os.getpid()}" in text
    assert str(db_path) in text and "oxbot stop" in text and "--db" in text
    # Closed: the lock is free again.
    async with await Store.open(db_path):
        pass


async def test_second_open_in_subprocess_is_locked(db_path: Path) -> None:
    async with await Store.open(db_path):
        proc = subprocess.run(
            [sys.executable, "-c", _TRY_OPEN, str(db_path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 3, proc.stderr
    assert f"another oxbot engine (pid {os.getpid()}) is using {db_path}" in proc.stdout


async def test_lock_is_released_when_holder_is_killed(db_path: Path, spawn_holder) -> None:
    holder = spawn_holder(_HOLD.replace("sys.argv[1]", repr(str(db_path))))
    with pytest.raises(DatabaseLocked, match=f"pid {holder.proc.pid}"):
        await Store.open(db_path)

    holder.proc.send_signal(signal.SIGKILL)
    holder.proc.wait(timeout=10)

    async with await Store.open(db_path) as s:  # no stale lock, and the ledger is sound
        assert await s.integrity_check() == "ok"


def test_lock_not_inherited_by_child_processes(tmp_path: Path) -> None:
    lock = WriterLock(tmp_path / "x.db").acquire()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        lock.release()
        time.sleep(0.05)
        # The child still runs, yet the lock is free: it never held a copy of the fd.
        with WriterLock(tmp_path / "x.db") as again:
            assert again.held
    finally:
        child.kill()
        child.wait()


async def test_the_lock_follows_the_real_file_through_a_symlink(tmp_path: Path) -> None:
    """Two paths to one database (a symlinked folder, another OXBOT_HOME pointing at the same
    data) must share one lock: two writers on one file would interleave ledgers."""
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "alias").symlink_to(real, target_is_directory=True)
    first = await Store.open(real / "oxbot.db")
    (tmp_path / "linked.db").symlink_to(real / "oxbot.db")  # a link to the file itself
    try:
        for other in (
            tmp_path / "linked.db",
            tmp_path / "alias" / "oxbot.db",
            tmp_path / "alias" / ".." / "real" / "oxbot.db",
        ):
            with pytest.raises(DatabaseLocked, match="another oxbot engine"):
                await Store.open(other)
    finally:
        await first.close()
    again = await Store.open(tmp_path / "linked.db")  # free again, by any of its names
    await again.close()
