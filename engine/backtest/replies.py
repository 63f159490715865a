"""The reply cache of LLM backtests: every model reply a backtest received, so that a rerun is
free, offline and deterministic.

One SQLite file of its own (``<data dir>/llm_replies.sqlite`` by default; never the ledger
database), one row per request, keyed by (provider, model, prompt hash, temperature). The
prompt hash is of everything the model reads (system text, messages, max_tokens, the JSON
schema), so a repair re-ask is a key of its own. A row keeps the raw reply text and how it
ended, the usage tokens, what it cost and how long it took. Each reply is committed as soon as
it arrives: an interrupted run keeps every reply it paid for, and a rerun resumes.

Used only by backtests (`CachedProvider` wraps the strategy's provider there); live trading
never reads it. Only answers are stored: a call that failed (timeout, refused key) is asked
again next time.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from ..errors import LLMError
from ..llm.pricing import Price, cost_usd
from ..llm.provider import ChatRequest, ChunkSink, Completion, Provider
from ..llm.usage import Spent

FILE_NAME = "llm_replies.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS replies (
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    prompt_hash TEXT NOT NULL,
    temperature TEXT NOT NULL,
    text TEXT NOT NULL,
    finish TEXT NOT NULL,
    json_mode TEXT NOT NULL,
    tokens_in INTEGER NOT NULL,
    tokens_out INTEGER NOT NULL,
    usage_estimated INTEGER NOT NULL,
    usage_note TEXT NOT NULL,
    cost TEXT NOT NULL,
    latency_ms INTEGER NOT NULL,
    stored_at INTEGER NOT NULL,
    PRIMARY KEY (provider, model, prompt_hash, temperature)
)
"""


@dataclass(frozen=True)
class ReplyKey:
    provider: str
    model: str
    prompt_hash: str
    temperature: str  # as text: 0.2 and 0.20000001 are different keys, never rounded together


@dataclass(frozen=True)
class StoredReply:
    text: str
    finish: str
    json_mode: str
    tokens_in: int
    tokens_out: int
    usage_estimated: bool
    usage_note: str
    cost: Decimal
    latency_ms: int

    def completion(self) -> Completion:
        return Completion(
            self.text,
            self.tokens_in,
            self.tokens_out,
            usage_estimated=self.usage_estimated,
            json_mode=self.json_mode,
            finish=self.finish,
            usage_note=self.usage_note,
        )


def request_hash(req: ChatRequest) -> str:
    """SHA-256 of what the model reads: system, messages, max_tokens and the JSON schema.
    (``facts`` are read only by the offline provider, which is never cached.)"""
    body = json.dumps(
        [req.system, req.messages, req.max_tokens, req.json_schema],
        sort_keys=True,
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()


def key_of(provider: str, model: str, req: ChatRequest) -> ReplyKey:
    return ReplyKey(provider, model, request_hash(req), repr(float(req.temperature)))


class ReplyCache:
    """The cache file. Synchronous (sqlite3): a backtest runs in one thread."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # autocommit: each reply is on disk before the run goes on
        self._db = sqlite3.connect(str(path), isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)

    def get(self, key: ReplyKey) -> StoredReply | None:
        row = self._db.execute(
            "SELECT text, finish, json_mode, tokens_in, tokens_out, usage_estimated, "
            "usage_note, cost, latency_ms FROM replies "
            "WHERE provider=? AND model=? AND prompt_hash=? AND temperature=?",
            (key.provider, key.model, key.prompt_hash, key.temperature),
        ).fetchone()
        if row is None:
            return None
        return StoredReply(
            row[0],
            row[1],
            row[2],
            int(row[3]),
            int(row[4]),
            bool(row[5]),
            row[6],
            Decimal(row[7]),
            int(row[8]),
        )

    def put(self, key: ReplyKey, reply: StoredReply) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO replies VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                key.provider,
                key.model,
                key.prompt_hash,
                key.temperature,
                reply.text,
                reply.finish,
                reply.json_mode,
                reply.tokens_in,
                reply.tokens_out,
                int(reply.usage_estimated),
                reply.usage_note,
                str(reply.cost),
                reply.latency_ms,
                int(time.time() * 1000),
            ),
        )

    def count(self, provider: str | None = None, model: str | None = None) -> int:
        sql, args = "SELECT COUNT(*) FROM replies", []
        if provider is not None and model is not None:
            sql += " WHERE provider=? AND model=?"
            args = [provider, model]
        return int(self._db.execute(sql, args).fetchone()[0])

    def mean_tokens_out(self, provider: str, model: str) -> float | None:
        """The mean completion size of the replies stored for one model (None if none)."""
        row = self._db.execute(
            "SELECT AVG(tokens_out) FROM replies WHERE provider=? AND model=?", (provider, model)
        ).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def close(self) -> None:
        self._db.close()


@dataclass
class Tally:
    """What one backtest's model calls did: replies read from the cache, calls made, their
    tokens and dollars (spent now), and the decision points whose reply is missing
    (``--cache-only``)."""

    hits: int = 0
    calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    spent: Decimal = Decimal(0)
    missed: bool = False  # set by a refused call; the run reads and clears it per decision


class ReplyNotCached(LLMError):
    """``--cache-only``: the reply to this request is not in the cache, and no call is made."""


class CachedProvider(Provider):
    """``inner`` behind the cache: a stored reply is replayed (streamed to the sink whole, no
    I/O); otherwise the model is called (unless ``cache_only``) and its reply stored."""

    def __init__(
        self,
        inner: Provider,
        cache: ReplyCache,
        *,
        provider: str,
        price: Price | None,
        tally: Tally,
        cache_only: bool = False,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.model = inner.model
        self.cache = cache
        self.provider = provider
        self.price = price
        self.tally = tally
        self.cache_only = cache_only

    async def complete(self, req: ChatRequest, on_chunk: ChunkSink) -> Completion:
        key = key_of(self.provider, self.model, req)
        stored = self.cache.get(key)
        if stored is not None:
            self.tally.hits += 1
            on_chunk(stored.text)
            return stored.completion()
        if self.cache_only:
            self.tally.missed = True
            raise ReplyNotCached(
                "no stored reply for this prompt and --cache-only forbids calling the model"
            )
        started = time.perf_counter()
        try:
            comp = await self.inner.complete(req, on_chunk)
        except LLMError as e:
            if isinstance(e.spent, Spent):  # billed though it failed
                self._count(e.spent.tokens_in, e.spent.tokens_out)
            raise
        latency = int((time.perf_counter() - started) * 1000)
        cost = self._count(comp.tokens_in, comp.tokens_out)
        self.cache.put(
            key,
            StoredReply(
                comp.text,
                comp.finish,
                comp.json_mode,
                comp.tokens_in,
                comp.tokens_out,
                comp.usage_estimated,
                comp.usage_note,
                cost,
                latency,
            ),
        )
        return comp

    def _count(self, tokens_in: int, tokens_out: int) -> Decimal:
        cost = cost_usd(self.price, tokens_in, tokens_out)
        self.tally.calls += 1
        self.tally.tokens_in += tokens_in
        self.tally.tokens_out += tokens_out
        self.tally.spent += cost
        return cost

    async def aclose(self) -> None:
        await self.inner.aclose()
