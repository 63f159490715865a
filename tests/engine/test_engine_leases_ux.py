"""Two engines on one PostgreSQL database, what each lists (engine/engine.py): a bot engine B
adds while A runs appears in A's list within a renewal (ttl/3), stopped ones too; AddBot on A of
a name B added meanwhile is refused, nothing written (storage ``add_bots`` inserts only), where
before A replaced B's bot's config."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from postgres import raw_rows

from oxbot.engine.messages import AddBot, StartBot

from .conftest import Harness
from .test_engine_leases import TTL, engine_on, fast_bot


async def until(cond: Any, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, f"timed out: {what}"
        await asyncio.sleep(0.05)


async def test_a_lists_bots_b_adds_and_refuses_their_names(pg_url: str) -> None:
    from oxbot.storage.store import Store

    store_a, store_b = await Store.open(pg_url), await Store.open(pg_url)
    a, b = engine_on(store_a, "A"), engine_on(store_b, "B")
    ha, hb = Harness(a), Harness(b)
    try:
        await ha.start()
        await hb.start()
        done = await hb.do(AddBot(config=fast_bot("idle")))
        assert done.ok, done.message
        # at once, before A's next renewal lists it: A has never seen "idle"
        assert "idle" not in a.runners
        other = fast_bot("idle").model_copy(update={"params": {"fast": 3, "slow": 9}})
        before = await raw_rows(pg_url, "SELECT id, config::text FROM bots WHERE name = 'idle'")
        refused = await ha.do(AddBot(config=other))
        assert not refused.ok
        assert "a bot named 'idle' exists (added by another engine" in refused.message
        assert "nothing was written" in refused.message
        after = await raw_rows(pg_url, "SELECT id, config::text FROM bots WHERE name = 'idle'")
        assert after == before and len(after) == 1  # B's bot untouched
        assert "idle" in a.runners  # listed at once by the refusal

        done = await hb.do(AddBot(config=fast_bot("busy"), start=True))
        assert done.ok, done.message
        await until(lambda: a.elsewhere.get("busy") == "B", TTL / 3 + 2, "A lists busy on B")
        views = {v.name: v for v in a.snapshot().bots}
        assert views["busy"].engine == "B" and views["idle"].engine is None
        assert views["idle"].status.value == "stopped"
        refused = await ha.do(AddBot(config=fast_bot("busy")))
        assert not refused.ok and "already exists" in refused.message
        started = await ha.do(StartBot(name="busy"))
        assert not started.ok and "busy runs on engine B" in started.message
        assert b.runners["busy"].config.params == {"fast": 2, "slow": 5}
    finally:
        await ha.stop()
        await hb.stop()
        await store_a.close()
        await store_b.close()
