"""The reply cache of LLM backtests: every model reply a backtest received, so that a rerun is
free, offline and deterministic.

One SQLite file of its own (``<data dir>/llm_replies.sqlite`` by default; never the ledger
database), one row per request, keyed by (provider, model, prompt hash, temperature). The
prompt hash is of everything the model reads (system text, messages, max_tokens, the JSON
schema) and of where and how it was asked (the base URL, normalised, and the request shape:
``structured`` / ``anthropic_prefill``, when not the defaults), so a repair re-ask is a key of
its own and another server's replies are never replayed as this one's. A row keeps the raw
reply text and how it ended, the usage tokens, what it cost and how long it took. Each reply
is committed as soon as it arrives: an interrupted run keeps every reply it paid for, and a
rerun resumes.

Used only by backtests (`CachedProvider` wraps the strategy's provider there); live trading
never reads it. Only finished answers are stored: a call that failed (timeout, refused key) or
a reply that did not finish on its own (a stream cut off or empty, ``Completion.finish`` not
"stop") is asked again next time. The first stored reply of a key wins (INSERT OR IGNORE), so
two runs at once on one cache converge on the same replies.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from ..errors import LLMError, StorageError, UsageError
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


# How long a write waits for another run's (sqlite3's own default, said out loud).
BUSY_TIMEOUT_S = 5.0


def _setup(db: sqlite3.Connection) -> None:
    """WAL and the table, on a file another run may be opening at the same instant.

    Switching a new file (rollback journal) to WAL takes its exclusive lock from a shared one;
    when two connections do it at once, SQLite answers the second "database is locked" at
    once, without its busy handler (it would otherwise wait on a lock the first waits on: the
    deadlock the busy handler must not enter; sqlite.org/c3ref/busy_handler.html). Two
    backtests started together on a fresh cache met it (seen 6 in 300 opens under load):
    the switch is tried again, up to the busy timeout."""
    end = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() >= end:
                raise
            time.sleep(0.005)


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


def request_hash(req: ChatRequest, origin: str = "") -> str:
    """SHA-256 of what the model reads: system, messages, max_tokens and the JSON schema, and
    ``origin`` (`origin_of`: where and how it was asked; "" for a provider's default server
    and request shape, which keeps the keys of caches written before it was added).
    (``facts`` are read only by the offline provider, which is never cached.)"""
    parts: list[object] = [req.system, req.messages, req.max_tokens, req.json_schema]
    if origin:
        parts.append(origin)
    body = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()


def normal_url(url: str) -> str:
    """A base URL as a key: lower-case scheme and host, no trailing slash ("" stays "")."""
    url = url.strip().rstrip("/")
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url.lower()
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}://{host.lower()}{slash}{path}"


def origin_of(base_url: str, default_url: str, shape: str = "") -> str:
    """What the key adds to the prompt hash: the normalised base URL unless it is the
    provider's default, and the request shape (``structured``/``prefill`` settings) unless
    the defaults ("" when both are the defaults)."""
    url = normal_url(base_url)
    parts = []
    if url and url != normal_url(default_url):
        parts.append(f"url={url}")
    if shape:
        parts.append(shape)
    return " ".join(parts)


def key_of(provider: str, model: str, req: ChatRequest, origin: str = "") -> ReplyKey:
    return ReplyKey(provider, model, request_hash(req, origin), repr(float(req.temperature)))


class ReplyCacheError(StorageError):
    """The reply cache file cannot be used (damaged, or not writable); the text names the file
    and the fix."""


class ReplyCache:
    """The cache file. Synchronous (sqlite3): a backtest runs in one thread. ``read_only``
    (a cache-only run, an estimate) opens it without writing anything: a cache on a read-only
    disk or owned by another user still replays; a missing file is an empty cache."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        self._db: sqlite3.Connection | None = None
        if read_only and not path.exists():
            return  # nothing stored yet: every get() misses
        try:
            self._db = self._open()
        except sqlite3.Error as e:
            raise self._error(e) from None
        except OSError as e:
            raise ReplyCacheError(
                f"the reply cache {path} cannot be created ({e.strerror or e}): make its "
                "folder writable, or run with --cache-only"
            ) from None

    def _open(self) -> sqlite3.Connection:
        if self.read_only:
            uri = self.path.resolve().as_uri()
            try:
                db = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None)
                db.execute("SELECT COUNT(*) FROM replies").fetchone()
                return db
            except sqlite3.OperationalError as e:
                if "no such table" in str(e):
                    raise
                # a WAL file that cannot be opened read-only in an unwritable folder: read the
                # file as it is (no other writer: the folder cannot be written)
                db = sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None)
                db.execute("SELECT COUNT(*) FROM replies").fetchone()
                return db
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # autocommit: each reply is on disk before the run goes on
        db = sqlite3.connect(str(self.path), isolation_level=None, timeout=BUSY_TIMEOUT_S)
        try:
            _setup(db)
        except BaseException:
            db.close()
            raise
        return db

    def _error(self, e: sqlite3.Error) -> ReplyCacheError:
        text = str(e)
        if isinstance(e, sqlite3.DatabaseError) and any(
            w in text for w in ("not a database", "malformed", "no such table", "corrupt")
        ):
            return ReplyCacheError(
                f"the reply cache {self.path} is damaged ({text}): delete it to start an empty "
                "one (its stored model replies are lost and will be asked again), or restore a "
                "copy; the bot ledger is not affected"
            )
        if any(w in text for w in ("readonly", "read-only", "unable to open", "locked")):
            return ReplyCacheError(
                f"the reply cache {self.path} cannot be written ({text}): make it and its folder "
                "writable, or replay the stored replies only with --cache-only"
            )
        return ReplyCacheError(f"the reply cache {self.path} cannot be used ({text})")

    def get(self, key: ReplyKey) -> StoredReply | None:
        if self._db is None:
            return None
        try:
            row = self._db.execute(
                "SELECT text, finish, json_mode, tokens_in, tokens_out, usage_estimated, "
                "usage_note, cost, latency_ms FROM replies "
                "WHERE provider=? AND model=? AND prompt_hash=? AND temperature=?",
                (key.provider, key.model, key.prompt_hash, key.temperature),
            ).fetchone()
        except sqlite3.Error as e:
            raise self._error(e) from None
        if row is None:
            return None
        return StoredReply(
            _text(row[0]),
            row[1],
            row[2],
            int(row[3]),
            int(row[4]),
            bool(row[5]),
            _text(row[6]),
            Decimal(row[7]),
            int(row[8]),
        )

    def has(self, key: ReplyKey) -> bool:
        return self.get(key) is not None

    def put(self, key: ReplyKey, reply: StoredReply) -> StoredReply:
        """Store ``reply`` unless the key has one already (another run stored it first); the
        reply now stored for the key is returned."""
        if self._db is None or self.read_only:
            raise ReplyCacheError(f"the reply cache {self.path} was opened read-only")
        try:
            self._db.execute(
                "INSERT OR IGNORE INTO replies VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    key.provider,
                    key.model,
                    key.prompt_hash,
                    key.temperature,
                    _storable(reply.text),
                    reply.finish,
                    reply.json_mode,
                    reply.tokens_in,
                    reply.tokens_out,
                    int(reply.usage_estimated),
                    _storable(reply.usage_note),
                    str(reply.cost),
                    reply.latency_ms,
                    int(time.time() * 1000),
                ),
            )
        except sqlite3.Error as e:
            raise self._error(e) from None
        return self.get(key) or reply

    def count(self, provider: str | None = None, model: str | None = None) -> int:
        if self._db is None:
            return 0
        sql, args = "SELECT COUNT(*) FROM replies", []
        if provider is not None and model is not None:
            sql += " WHERE provider=? AND model=?"
            args = [provider, model]
        return int(self._db.execute(sql, args).fetchone()[0])

    def mean_tokens_out(self, provider: str, model: str) -> float | None:
        """The mean completion size of the replies stored for one model (None if none)."""
        if self._db is None:
            return None
        row = self._db.execute(
            "SELECT AVG(tokens_out) FROM replies WHERE provider=? AND model=?", (provider, model)
        ).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def close(self) -> None:
        if self._db is not None:
            self._db.close()


def _storable(text: str) -> str | bytes:
    """``text`` as SQLite can store it: a reply with a lone surrogate (half an emoji, from a
    proxy that cut a string by UTF-16 units) is not valid UTF-8, so it is stored as the bytes
    of its "surrogatepass" encoding (a BLOB) and read back the same (`_text`)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")
    return text


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "surrogatepass") if isinstance(value, bytes) else value


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
    # --max-cost: no call is made once ``spent`` reached it (``capped`` then says so; the run
    # stops after that decision point, llmrun.py). None: no cap.
    cap: Decimal | None = None
    capped: bool = False
    estimated: int = 0  # calls whose usage the server did not report believably (estimated)
    unfinished: int = 0  # replies not stored because they did not finish (asked again next run)
    # decisions that failed (held), by the strategy's kind in a few words, and the last reason
    failure_kinds: dict[str, int] = field(default_factory=dict)
    last_failure: str = ""
    server: str = ""  # where the calls go (the bot's base URL or the provider's default)
    priced: bool = True  # False: the model's price is unknown, dollars are not counted

    def cap_reached(self) -> bool:
        return self.cap is not None and self.spent >= self.cap


class SpendCapReached(UsageError):
    """The run's model calls spent ``--max-cost``: the run stops; every reply is stored."""


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
        origin: str = "",
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.model = inner.model
        self.cache = cache
        self.provider = provider
        self.price = price
        self.tally = tally
        self.cache_only = cache_only
        self.origin = origin

    async def complete(self, req: ChatRequest, on_chunk: ChunkSink) -> Completion:
        key = key_of(self.provider, self.model, req, self.origin)
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
        if self.tally.cap_reached():
            self.tally.capped = True
            raise ReplyNotCached(
                f"the model calls spent ${self.tally.spent:.4f}, --max-cost {self.tally.cap}"
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
        if comp.usage_estimated:
            self.tally.estimated += 1
        if not comp.complete:  # cut off, empty, filtered: not an answer; asked again next time
            self.tally.unfinished += 1
            return comp
        stored = self.cache.put(
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
        if stored.text != comp.text:  # another run stored its reply first: replay that one
            return stored.completion()
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
