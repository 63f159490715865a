"""SIGKILL a LIVE engine process at 20 random moments; after each restart the database and the
exchange agree: 0 orphan and 0 ghost orders, fills and balances equal, integrity ok."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

KILLS = 20
CHILD = Path(__file__).with_name("e2e_child.py")


@pytest.mark.slow
async def test_sigkill_at_20_random_moments_then_restart(sup: Any, tmp_path: Path) -> None:
    from oxbot.storage.store import Store
    from oxbot.tui.runtime import build_engine

    clock = sup.SpeedClock(speed=1200)  # a candle every 50 ms: an order every 50 ms
    fake = sup.ClockedFake(clock=clock)
    fake.retry_after_s = 0
    # Some replies are slow: kills land between "exchange accepted" and "database committed".
    rng = random.Random(20)
    fake.stall_s = 0.05
    fake.fault_fn = lambda m, p: "stall_after" if p.endswith("/order") and rng.random() < .3 \
        else None
    await fake.start()
    db, locks = tmp_path / "oxbot.db", tmp_path / "locks"
    settled_restarts = 0
    try:
        for i in range(KILLS):
            log = (tmp_path / f"child{i}.log").open("wb")
            proc = await asyncio.create_subprocess_exec(
                sys.executable, str(CHILD), str(db), fake.base_url, str(clock.wall0),
                str(clock.speed), str(locks), stdout=asyncio.subprocess.PIPE,
                stderr=log,
                env={**os.environ, "OXBOT_HOME": str(tmp_path / "home")})
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
            assert line.strip() == b"READY", (tmp_path / f"child{i}.log").read_text()[-2000:]
            await asyncio.sleep(rng.uniform(0.2, 1.0))
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            log.close()
            # Restart (in-process, same composition root) and let start-up settle.
            opts = sup.runtime_options(db, fake.base_url, clock, locks)
            store = await Store.open(db)
            engine = await build_engine(opts, store=store)
            events: list[Any] = []
            engine.bus.listen(events.append)
            task = asyncio.create_task(engine.run())
            await asyncio.wait_for(engine.ready.wait(), 30)
            engine.request_stop()
            await asyncio.wait_for(task, 30)
            settled_restarts += any("settled with the exchange" in getattr(e, "message", "")
                                    for e in events)
            report = await sup.compare_with_exchange(store, fake, "killme", Decimal("10000"))
            assert sup.disagreements(report) == {}, (i, report)
            assert await store.integrity_check() == "ok"
            await store.close()
    finally:
        await fake.stop()
    assert len(fake.orders) > 2 * KILLS
    print(f"\nSIGKILL x{KILLS}: {len(fake.orders)} exchange orders, {len(fake.trades)} trades, "
          f"{settled_restarts} restarts settled orders a kill left PENDING")
