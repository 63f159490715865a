"""A LIVE engine in its own process, for the SIGKILL test: the real composition root against
the fake exchange served by the test process. Usage:
python e2e_child.py DB URL WALL0 SPEED LOCK_DIR  -> prints READY once trading."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path


async def main(db: str, url: str, wall0: float, speed: float, lock_dir: str) -> None:
    spec = importlib.util.spec_from_file_location("e2e_support",
                                                  Path(__file__).with_name("e2e_support.py"))
    assert spec is not None and spec.loader is not None
    sup = importlib.util.module_from_spec(spec)
    sys.modules["e2e_support"] = sup
    spec.loader.exec_module(sup)

    from oxbot.engine.models import BotStatus, Mode
    from oxbot.storage.store import Store
    from oxbot.tui.runtime import build_engine

    opts = sup.runtime_options(Path(db), url, sup.SpeedClock(speed, wall0), Path(lock_dir))
    store = await Store.open(opts.db_path)
    if not await store.load_bots():
        await store.save_bot(sup.bot("killme", Mode.LIVE), BotStatus.RUNNING)
    engine = await build_engine(opts, store=store)
    task = asyncio.create_task(engine.run())
    await engine.ready.wait()
    print("READY", flush=True)
    await task  # until SIGKILL


if __name__ == "__main__":
    db, url, wall0, speed, lock_dir = sys.argv[1:6]
    asyncio.run(main(db, url, float(wall0), float(speed), lock_dir))
