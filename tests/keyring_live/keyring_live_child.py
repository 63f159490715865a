"""A LIVE engine in its own process whose keys come from the real default resolver (the keyring
through oxbot.storage.secrets), trading on the fake exchange served by the test process.

Usage: python keyring_live_child.py trade|refuse BOT DB URL WALL0 SPEED LOCK_DIR
Prints one JSON line: what the engine said and did. ``trade`` waits for a first fill;
``refuse`` expects the bot not to start and only watches briefly that nothing is traded.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

E2E_SUPPORT = Path(__file__).resolve().parent.parent / "exchange_e2e" / "e2e_support.py"


def _load_support() -> Any:
    spec = importlib.util.spec_from_file_location("e2e_support", E2E_SUPPORT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["e2e_support"] = module
    spec.loader.exec_module(module)
    return module


async def main(
    mode: str, bot: str, db: str, url: str, wall0: float, speed: float, lock_dir: str
) -> None:
    # The point of this process: no key may come from anywhere but the keyring.
    leaked = sorted(k for k in os.environ if k.startswith("OXBOT_BINANCE"))
    if leaked:
        raise SystemExit(f"refusing to run with {leaked} set: keys must come from the keyring")
    sup = _load_support()

    from oxbot.app.runtime import build_engine
    from oxbot.engine.messages import EngineError, Notice
    from oxbot.engine.models import BotStatus, Mode
    from oxbot.storage.store import Store

    # Configured as a user does (settings.json); the keys through the composition root's
    # default resolver (tui.runtime.keyring_credentials).
    opts = sup.runtime_options(Path(db), url, Path(lock_dir).parent / "home")
    store = await Store.open(opts.db_path)
    await store.save_bot(sup.bot(bot, Mode.LIVE), BotStatus.RUNNING)  # resumed at start
    engine = await build_engine(opts, store=store)
    events: list[Any] = []
    engine.bus.listen(events.append)
    task = asyncio.create_task(engine.run())
    await asyncio.wait_for(engine.ready.wait(), 20)
    fills: list[Any] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + (15 if mode == "trade" else 0.5)
    while loop.time() < end and not (mode == "trade" and fills):
        await asyncio.sleep(0.05)
        fills = await store.load_fills(bot)
    source = None
    if mode == "trade":
        from oxbot.storage.secrets import load_secret

        loaded = await asyncio.to_thread(load_secret, "binance")
        source = loaded.source if loaded else None
    status = engine.runners[bot].status.value
    engine.request_stop()
    await asyncio.wait_for(task, 20)
    await store.close()
    print(
        json.dumps(
            {
                "status": status,
                "fills": len(fills),
                "key_source": source,
                "fill_orders": sorted({f.client_order_id for f in fills}),
                "errors": [e.message for e in events if isinstance(e, EngineError)],
                "notices": [e.message for e in events if isinstance(e, Notice)],
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    mode, bot, db, url, wall0, speed, lock_dir = sys.argv[1:8]
    asyncio.run(main(mode, bot, db, url, float(wall0), float(speed), lock_dir))
