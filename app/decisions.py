"""The stored decisions of every bot, newest first, for the cockpit's decision list and detail
(tui/screens/decision.py): read from the database read-only, blocking (the cockpit calls it on
a worker thread), like the Audit screen's reads (app/audit.py ``audit_db``)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from oxbot.engine.models import DecisionRecord
from oxbot.storage.store import Store

LIMIT = 500


def recent_decisions(path: Path | str, limit: int = LIMIT) -> list[DecisionRecord]:
    """The newest ``limit`` decisions over every bot of the database at ``path``, newest first
    (ties: by bot name)."""
    return asyncio.run(_recent(Path(path), limit))


async def _recent(path: Path, limit: int) -> list[DecisionRecord]:
    store = await Store.open(path, writer=False)
    try:
        out: list[DecisionRecord] = []
        for cfg, _status in await store.load_bots():
            out += await store.recent_decisions(cfg.name, limit)
    finally:
        await store.close()
    out.sort(key=lambda d: (-d.ts, d.bot))
    return out[:limit]
