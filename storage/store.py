"""The Store: the only storage API the engine uses. One SQLite file, or a PostgreSQL database
by URL (storage/pg.py); async to its callers.

- ``Store.open(path)`` takes the writer lock, creates or migrates the schema, then serves reads
  and writes; ``Store.open(path, writer=False)`` only reads (no lock, no migration).
- Every write is one ``BEGIN IMMEDIATE`` transaction, run in the Store's single writer thread
  (writes.py). A write that was started finishes (commit or rollback) even if the awaiting task
  is cancelled, and the cancellation is raised only after: the ledger is never left guessing.
- Group commit: bots' ledger writes (``record_cycle``, ``save_risk_state``) that wait while the
  writer thread is busy are committed together in one transaction (one fsync), at most one per
  bot; each caller's await still returns only once its own write is committed. When the group
  fails, each of its writes is run again alone, so every caller gets its own outcome.
- PostgreSQL: the same writes (writes.py, through SQLAlchemy Core) run on one asyncpg
  connection, one transaction at a time, inside SQLAlchemy's greenlet (``greenlet_spawn``, what
  ``AsyncConnection.run_sync`` uses) instead of a thread; group commit works the same way.
- Reads (reads.py) run on read-only aiosqlite (or asyncpg) connections. Statements are Core
  statements on the tables of schema.py, converted to the engine's domain objects by
  convert.py; nothing is lazy-loaded, so async code never does I/O by surprise.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import greenlet_spawn

from oxbot.engine.errors import StorageError
from oxbot.engine.models import (
    BotConfig,
    BotStatus,
    CapitalFlow,
    DecisionRecord,
    EquityPoint,
    Fill,
    LeaseClaim,
    Order,
    Position,
    RiskState,
)

from . import leases, migrations, pg
from .engines import create_read_engine, create_write_engine
from .lock import WriterLock
from .reads import StoreReads
from .schema import bots
from .writes import LedgerWriter, check_owner

T = TypeVar("T")


class Store(StoreReads):
    """oxbot's ledger and bot registry in one SQLite file. Open with ``await Store.open(path)``."""

    def __init__(
        self,
        path: Path | str,
        engine: AsyncEngine,
        version: int,
        lock: WriterLock | None = None,
        writer: LedgerWriter | None = None,
        pg_writes: AsyncEngine | None = None,
    ) -> None:
        self._path = path
        self._engine = engine
        self._version = version
        self._lock = lock
        self._writer = writer
        self._pg_writes = pg_writes  # PostgreSQL: the writer's engine (no thread)
        self._executor = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="oxbot-db-writer")
            if writer is not None and pg_writes is None
            else None
        )
        self._pg_turn = asyncio.Lock()  # PostgreSQL: one write transaction at a time
        self._pg_drain: asyncio.Task[None] | None = None
        self._closed = False
        # group commit (see the module docstring): writes waiting for the writer thread
        self._group_lock = threading.Lock()
        self._queued: list[tuple[str, tuple[Any, ...], asyncio.Future[Any]]] = []
        self._draining = False
        # True from a failed write until the next one succeeds (a full disk): a bot's cycles
        # that wrote nothing prove nothing, so they do not end its run of failures
        self.write_failing = False

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    async def open(cls, path: Path | str, *, writer: bool = True) -> Store:
        """Open the database at ``path``.

        writer=True: take the writer lock (DatabaseLocked if another engine holds it), create or
        migrate the schema (SchemaTooNew, nothing written, if the file is newer than this code).
        writer=False: read-only; no lock, no migration; refuses a missing, older or newer schema.
        A ``postgresql+asyncpg://user@host:port/dbname`` URL opens that database instead.
        """
        if isinstance(path, str) and pg.is_url(path):
            return await cls._open_pg(pg.PgUrl.parse(path), writer)
        path = Path(path).expanduser()
        lock: WriterLock | None = None
        store: Store | None = None
        try:
            if writer:
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as e:
                    raise StorageError(f"cannot create the folder of {path}: {e}") from e
                lock = WriterLock(path).acquire()
                version = await asyncio.to_thread(migrations.prepare_writer, path)
                ledger = LedgerWriter(create_write_engine(path), path)
            else:
                version = await asyncio.to_thread(migrations.check_reader, path)
                ledger = None
            store = cls(path, create_read_engine(path), version, lock, ledger)
            async with store._reading() as conn:  # connect now: pragmas applied, errors early
                await conn.exec_driver_sql("SELECT 1")
            return store
        except BaseException:
            if store is not None:
                await store.close()
            elif lock is not None:
                lock.release()
            raise

    @classmethod
    async def _open_pg(cls, url: pg.PgUrl, writer: bool) -> Store:
        password = await asyncio.to_thread(pg.password_for, url)
        writes: AsyncEngine | None = None
        reads = pg.create_read_engine(url, password)
        store: Store | None = None
        try:
            ledger: LedgerWriter | None = None
            if writer:
                writes = pg.create_write_engine(url, password)
                version = await pg.prepare_writer(writes, url)
                ledger = LedgerWriter(writes.sync_engine, str(url))
            else:
                version = await pg.check_reader(reads, url)
            store = cls(str(url), reads, version, None, ledger, writes)
            async with store._reading() as conn:
                await conn.exec_driver_sql("SELECT 1")
            return store
        except BaseException:
            if store is not None:
                await store.close()
            else:
                await reads.dispose()
                if writes is not None:
                    await writes.dispose()
            raise

    async def close(self) -> None:
        """Finish pending writes, close every connection, then release the writer lock."""
        if self._closed:
            return
        self._closed = True
        try:
            await asyncio.sleep(0)  # a grouped write queued just before is handed over first
            if self._pg_drain is not None:
                await asyncio.wait([self._pg_drain])  # it ends once the queue is empty
            await self._engine.dispose()  # readers first: the writer's close checkpoints the WAL
            if self._pg_writes is not None:
                async with self._pg_turn:
                    await self._pg_writes.dispose()
            if self._executor is not None and self._writer is not None:
                await asyncio.get_running_loop().run_in_executor(
                    self._executor, self._writer.dispose
                )
                self._executor.shutdown(wait=True)
        finally:
            if self._lock is not None:
                self._lock.release()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def path(self) -> Path | str:
        """The database file, or the PostgreSQL URL (its password never in it)."""
        return self._path

    @property
    def schema_version(self) -> int:
        """The schema version of the open database."""
        return self._version

    @property
    def writer(self) -> bool:
        """True when this Store holds the writer lock and may write."""
        return self._writer is not None

    async def _write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` (one transaction) in the writer thread and return its result."""
        if self._writer is None:
            raise StorageError(f"{self._path} was opened read-only; open it with writer=True")
        if self._closed:
            raise StorageError(f"the store of {self._path} is closed")
        done: asyncio.Future[T]
        if self._executor is not None:
            done = asyncio.wrap_future(self._executor.submit(fn, *args))
        else:
            done = asyncio.ensure_future(self._pg_call(fn, *args))
        done.add_done_callback(self._note_outcome)
        try:
            return await asyncio.shield(done)
        except asyncio.CancelledError:
            # Cancelled while the transaction runs: let it finish so the caller's view of the
            # ledger is final when the cancellation propagates.
            while not done.done():
                try:
                    await asyncio.wait([done])
                except asyncio.CancelledError:
                    continue
            raise

    async def _write_grouped(self, name: str, *args: Any) -> Any:
        """Like ``_write``, for a write the writer may commit with other bots' (group commit)."""
        if self._writer is None:
            raise StorageError(f"{self._path} was opened read-only; open it with writer=True")
        if self._closed:
            raise StorageError(f"the store of {self._path} is closed")
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Any] = loop.create_future()
        done.add_done_callback(self._note_outcome)
        with self._group_lock:
            self._queued.append((name, args, done))
            start = not self._draining
            self._draining = True
        if start:  # after the callbacks ready now: other bots' writes of this step join it
            loop.call_soon(self._start_drain, loop)
        try:
            return await asyncio.shield(done)
        except asyncio.CancelledError:
            while not done.done():  # as in _write: the transaction ends before we do
                try:
                    await asyncio.wait([done])
                except asyncio.CancelledError:
                    continue
            raise

    async def _pg_call(self, fn: Callable[..., T], *args: Any) -> T:
        """PostgreSQL: run the writer's ``fn`` (sync SQLAlchemy code) on the asyncpg engine."""
        async with self._pg_turn:
            return await greenlet_spawn(fn, *args)

    def _start_drain(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._executor is None:  # PostgreSQL: a task of the loop drains the queue
            self._pg_drain = loop.create_task(self._drain_pg())
            return
        try:
            self._executor.submit(self._drain, loop)
        except RuntimeError:  # the store closed meanwhile: the queued writes fail, said so
            with self._group_lock:
                queued, self._queued = self._queued, []
                self._draining = False
            for _, _, fut in queued:
                if not fut.done():
                    fut.set_exception(StorageError(f"the store of {self._path} is closed"))

    def _next_batch(self) -> list[tuple[str, tuple[Any, ...], asyncio.Future[Any]]] | None:
        """The next writes to commit together, one per bot (a bot's second write goes in the
        next round); None when the queue is empty (the drain then ends)."""
        with self._group_lock:
            if not self._queued:
                self._draining = False
                return None
            batch: list[tuple[str, tuple[Any, ...], asyncio.Future[Any]]] = []
            later: list[tuple[str, tuple[Any, ...], asyncio.Future[Any]]] = []
            bots: set[str] = set()
            for item in self._queued:
                (later if item[1][0] in bots else batch).append(item)
                bots.add(item[1][0])
            self._queued = later
        return batch

    @staticmethod
    def _commit(
        writer: LedgerWriter, batch: list[tuple[str, tuple[Any, ...], asyncio.Future[Any]]]
    ) -> list[tuple[Any, BaseException | None]]:
        """Commit ``batch`` in one transaction; each write's (result, error)."""
        outcomes: list[tuple[Any, BaseException | None]] = []
        try:
            outcomes = [(r, None) for r in writer.group([(n, a) for n, a, _ in batch])]
        except BaseException as e:  # noqa: BLE001 - handed to the callers
            if len(batch) == 1:
                outcomes = [(None, e)]
            else:  # nothing was committed: each write again alone, for its own outcome
                for name, args, _ in batch:
                    try:
                        outcomes.append((writer.group([(name, args)])[0], None))
                    except BaseException as one:  # noqa: BLE001 - handed to its caller
                        outcomes.append((None, one))
        return outcomes

    def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        """Writer thread: commit what is queued, one write per bot per transaction, until the
        queue is empty."""
        writer = self._require_writer()
        while (batch := self._next_batch()) is not None:
            outcomes = self._commit(writer, batch)
            for (_, _, fut), (result, error) in zip(batch, outcomes, strict=True):
                try:
                    loop.call_soon_threadsafe(_settle, fut, result, error)
                except RuntimeError:  # the loop has closed: nobody waits any more
                    pass

    async def _drain_pg(self) -> None:
        """PostgreSQL: ``_drain`` as a task of the loop, each batch in SQLAlchemy's greenlet."""
        writer = self._require_writer()
        while (batch := self._next_batch()) is not None:
            async with self._pg_turn:
                outcomes = await greenlet_spawn(self._commit, writer, batch)
            for (_, _, fut), (result, error) in zip(batch, outcomes, strict=True):
                _settle(fut, result, error)

    def _note_outcome(self, done: asyncio.Future[Any]) -> None:
        if not done.cancelled():
            self.write_failing = done.exception() is not None

    # ------------------------------------------------------------------ writes

    async def save_bot(
        self,
        config: BotConfig,
        status: BotStatus,
        *,
        flow: CapitalFlow | None = None,
        risk: RiskState | None = None,
    ) -> None:
        """Insert the bot, or replace the config and status of the live bot of that name; a
        capital edit's ``flow`` (deposit or withdrawal) and the kill switches' rescaled
        ``risk`` state are written in the same transaction."""
        if flow is not None and flow.bot != config.name:
            raise ValueError(f"save_bot({config.name!r}) was given a flow of bot {flow.bot!r}")
        await self._write(self._require_writer().save_bot, config, status, flow, risk)

    async def save_risk_state(
        self, bot: str, state: RiskState, equity: Sequence[EquityPoint] = ()
    ) -> None:
        """Store what the bot's kill switches remember, with the equity points it comes from
        (one transaction)."""
        check_owner(bot, list(equity))
        await self._write_grouped("save_risk_state", bot, state, tuple(equity))

    async def add_bots(self, configs: Sequence[BotConfig], status: BotStatus) -> None:
        """Add new bots all together or none (ConfigError names those that already exist)."""
        await self._write(self._require_writer().add_bots, tuple(configs), status)

    async def save_marks(self, marks: Mapping[str, tuple[int, Decimal]]) -> None:
        """Remember where each sim stream stopped (stream key -> (ts, close))."""
        if marks:
            await self._write(self._require_writer().save_marks, marks)

    async def set_bot_status(self, name: str, status: BotStatus) -> None:
        """Record a bot's state (running, stopped, ...); StorageError for an unknown bot."""
        await self._write(self._require_writer().set_bot_status, name, status)

    async def delete_bot(self, name: str, purge_history: bool = False) -> bool:
        """Delete the live bot ``name``; False if there is none.

        Soft delete keeps its orders, fills, positions, decisions and equity under its own id;
        purge removes them too. Either way the name is free for a new bot with an empty ledger.
        """
        return await self._write(self._require_writer().delete_bot, name, purge_history)

    async def record_cycle(
        self,
        bot: str,
        *,
        orders: Sequence[Order] = (),
        fills: Sequence[Fill] = (),
        positions: Mapping[str, Position | None] | None = None,
        decision: DecisionRecord | None = None,
        equity: Sequence[EquityPoint] = (),
    ) -> list[bool]:
        """Write one bot cycle in ONE transaction; returns, per fill, True if it was new.

        Orders are upserted by client_order_id (status, exchange id and SL/TP may change);
        a fill whose fill_id is already stored is ignored (False); ``positions`` maps a symbol
        to its position, or to None to delete it.
        """
        positions = dict(positions or {})
        check_owner(bot, [*orders, *fills, *equity, *([decision] if decision else [])])
        for symbol, pos in positions.items():
            if pos is not None and pos.symbol != symbol:
                raise ValueError(f"positions key {symbol!r} holds a position of {pos.symbol!r}")
        flags: list[bool] = await self._write_grouped(
            "record_cycle", bot, tuple(orders), tuple(fills), positions, decision, tuple(equity)
        )
        return flags

    async def save_order(self, order: Order) -> None:
        """Journal one order in its own committed transaction (call it BEFORE any network I/O)."""
        await self._write(self._require_writer().save_order, order)

    # ------------------------------------------------------------------ engines and leases

    @property
    def shared(self) -> bool:
        """True when other engines may write this database at the same time (PostgreSQL):
        each bot then runs on the engine holding its lease (storage/leases.py)."""
        return self._pg_writes is not None

    async def register_engine(self, name: str, ttl_s: float) -> str:
        """Register this engine (a new ``host:pid:random`` id, returned) whose leases run
        ``ttl_s``; its ledger writes are fenced by its leases from now on (PostgreSQL)."""
        engine_id: str = await self._write(
            self._require_writer().register_engine, name, int(ttl_s * 1000)
        )
        return engine_id

    async def claim_bot(self, bot: str, ttl_s: float) -> LeaseClaim:
        """Take or extend the lease of ``bot`` for ``ttl_s`` (the server's clock)."""
        claim: LeaseClaim = await self._write(self._require_writer().claim, bot, int(ttl_s * 1000))
        return claim

    async def renew_leases(self, ttl_s: float) -> list[str]:
        """Renew all of this engine's leases in one statement, with its heartbeat; returns
        the bots it no longer holds (taken over by another engine)."""
        lost: list[str] = await self._write(self._require_writer().renew, int(ttl_s * 1000))
        return lost

    async def release_bot(self, bot: str) -> None:
        """Give up the lease of ``bot`` (it stopped): another engine may take it at once."""
        await self._write(self._require_writer().release, bot)

    async def bot_reconciled(self, bot: str) -> None:
        """The bot, taken over from a crashed engine, was restored and settled."""
        await self._write(self._require_writer().reconciled, bot)

    async def deregister_engine(self) -> None:
        """A clean shutdown: every lease released, the engine marked stopped."""
        if self._writer is not None and self._writer.engine_id is not None:
            await self._write(self._writer.deregister_engine)

    async def list_engines(self) -> list[leases.EngineRecord]:
        """Every engine that wrote this database, with the bots each holds (``oxbot status``);
        alive = not stopped and a heartbeat younger than its leases' ttl."""
        async with self._reading() as conn:
            names = {
                int(i): str(n)
                for i, n in (await conn.execute(select(bots.c.id, bots.c.name))).all()
            }
            return await conn.run_sync(leases.listing, names)

    def _require_writer(self) -> LedgerWriter:
        if self._writer is None:
            raise StorageError(f"{self._path} was opened read-only; open it with writer=True")
        return self._writer


def _settle(fut: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    """On the loop: hand a grouped write's outcome to its caller."""
    if fut.cancelled():
        return
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(result)
