"""The stored decisions of every bot (or of one), newest first, for the cockpit's decision list
and detail (tui/screens/decision.py): read from the database read-only, blocking (the cockpit
calls it on a worker thread), like the Audit screen's reads (app/audit.py ``audit_db``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from oxbot.engine.llm.strategy import CAP
from oxbot.engine.models import DecisionRecord
from oxbot.storage.store import Store

LIMIT = 500
STORED_CAP = CAP  # characters of a prompt / raw reply the ledger keeps (the rest is cut)


@dataclass(frozen=True)
class DecisionList:
    """The newest decisions read (at most LIMIT), how many are stored in all (of the bot
    asked for, or of every bot) and the names of the bots there are."""

    records: list[DecisionRecord]
    total: int
    bots: list[str]


def maybe_cut(text: str) -> bool:
    """True when ``text`` is as long as the ledger keeps: it may have been cut there (the
    original length is not stored)."""
    return len(text) >= STORED_CAP


def recent_decisions(path: Path | str, limit: int = LIMIT) -> list[DecisionRecord]:
    """The newest ``limit`` decisions over every bot of the database at ``path``, newest first
    (ties: by bot name)."""
    return decision_list(path, limit=limit).records


def decision_list(path: Path | str, bot: str | None = None, limit: int = LIMIT) -> DecisionList:
    """The newest ``limit`` decisions of ``bot`` (None: of every bot), newest first, with the
    number stored."""
    return asyncio.run(_read(Path(path), bot, limit))


async def _read(path: Path, bot: str | None, limit: int) -> DecisionList:
    store = await Store.open(path, writer=False)
    try:
        names = sorted(cfg.name for cfg, _status in await store.load_bots())
        out: list[DecisionRecord] = []
        total = 0
        for name in names if bot is None else [n for n in names if n == bot]:
            out += await store.recent_decisions(name, limit)
            total += (await store.decisions_since(name, 0))[0]
    finally:
        await store.close()
    out.sort(key=lambda d: (-d.ts, d.bot))
    return DecisionList(out[:limit], total, names)
