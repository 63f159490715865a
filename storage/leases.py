"""Engines and bot leases: several engines on one PostgreSQL database, each bot run by one.

- An engine registers (``engines`` row: ``host:pid:where:random`` id, its name, its heartbeat) and
  claims the lease of every bot it runs. A lease runs until ``expires_ms``; the owner renews
  all of its leases in one statement every ttl/3. A clean shutdown releases them (another
  engine may take the bots at once); a crashed engine's leases expire after the ttl.
- A claim succeeds when the lease is free (released, or never taken), already this engine's,
  or expired. Taking it from another engine adds 1 to ``epoch`` (the fencing token); taking
  it from an EXPIRED owner also sets ``must_reconcile`` (the new owner restores the bot from
  the ledger and settles its orders in flight before it trades, then clears it).
- Fencing: every ledger write of a bot checks, in its own transaction, that this engine still
  holds the bot at the epoch it claimed (``fence``); if not, the transaction is rolled back and
  LeaseLost names the new owner. On PostgreSQL the check is an UPDATE of the lease row, so it
  also locks it until the write commits: a claim waiting on it sees the write, and a write
  after the claim sees the new owner (READ COMMITTED re-reads an updated row).
- Every time compared is the DATABASE SERVER's (``now()`` on PostgreSQL), never an engine's
  clock: hosts' clocks may differ. SQLite has one engine only (its file lock): a claim there
  always succeeds, and its times are the local clock.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, and_, case, delete, func, literal_column, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.elements import ColumnElement

from oxbot.engine.errors import LeaseLost
from oxbot.engine.models import LeaseClaim

from .schema import bot_leases, engines

L = bot_leases.c
E = engines.c


def server_ms(conn: Connection) -> ColumnElement[Any]:
    """Now in ms on the database's clock: PostgreSQL's ``now()`` (the transaction's start);
    SQLite's is the local clock."""
    if conn.dialect.name == "postgresql":
        return literal_column("(floor(extract(epoch from now()) * 1000))::bigint")
    return literal_column("CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)")


def new_engine_id() -> str:
    """``host:pid:where:random``: two engines never share one (the random part); ``where``
    names the pid namespace of this boot (``process_space``), "" when it cannot be known."""
    return f"{socket.gethostname()}:{os.getpid()}:{process_space()}:{secrets.token_hex(2)}"


def process_space() -> str:
    """Which processes this one can probe by pid: this machine's boot and the pid namespace.
    A host NAME is not enough (two machines called raspberrypi, containers sharing the host's
    network): a pid there means nothing here. Linux only: ``/proc/sys/kernel/random/boot_id``
    ("a random UUID generated once per boot", proc(5)) and the inode of ``/proc/self/ns/pid``
    (namespaces(7): "two processes are in the same namespace if the device IDs and inode
    numbers of their /proc/[pid]/ns/xxx symbolic links are the same"). "" elsewhere: then a
    holder's pid is never probed, its lease is taken after its ttl only."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        ns = os.stat("/proc/self/ns/pid")
    except OSError:
        return ""
    return hashlib.sha256(f"{boot}/{ns.st_dev}/{ns.st_ino}".encode()).hexdigest()[:12]


def _space_of(engine_id: str) -> str:
    """The ``process_space`` written in an engine id ("" for an id without one)."""
    parts = engine_id.split(":")
    return parts[-2] if len(parts) >= 4 else ""


@dataclass(frozen=True, slots=True)
class EngineRecord:
    """An engine of the database, as ``oxbot status`` lists it."""

    engine_id: str
    name: str
    host: str
    pid: int
    heartbeat_age_ms: int  # on the server's clock
    alive: bool  # not stopped, and heartbeat younger than its leases' ttl
    stopped: bool  # shut down cleanly (or found dead on its host)
    bots: tuple[str, ...]  # the bots whose lease it holds


def session_timeouts(ttl_ms: int) -> dict[str, str]:
    """The PostgreSQL settings of an engine's write session, all well under its lease ttl, so
    that one hung engine (a connection that neither answers nor closes) cannot stall others:
    what the PostgreSQL 15 documentation (19.11.1, "Statement Behavior") says of each:
    - ``lock_timeout``: "Abort any statement that waits longer than the specified amount of
      time while attempting to acquire a lock" -> a claim waiting on the lease row of a hung
      engine's open transaction gives up (the bot is then held, tried again at the next
      renewal) instead of waiting for ever, and this engine's own renewals go on;
    - ``statement_timeout``: "Abort any statement that takes more than the specified amount
      of time";
    - ``idle_in_transaction_session_timeout``: "Terminate any session that has been idle
      (that is, waiting for a client query) within an open transaction for longer than the
      specified amount of time" -> the server ends a hung engine's transaction and frees the
      lease rows it locked, so another engine takes the bots over after the ttl.
    A value without units is taken as milliseconds (19.1.1). Floors of 0.5 s and 1 s: a busy
    host may pause a healthy transaction that long, and only the tests' ttls (1.5 s) reach them.
    """
    return {
        "lock_timeout": str(max(ttl_ms // 6, 500)),
        "statement_timeout": str(max(ttl_ms // 3, 1000)),
        "idle_in_transaction_session_timeout": str(max(ttl_ms // 3, 1000)),
    }


# A stopped engine, or one whose heartbeat stopped (killed), stays listed by `oxbot status`
# this long, then the next engine to start forgets it; one still named by a lease row stays.
FORGET_AFTER_MS = 7 * 24 * 3600 * 1000


def register(conn: Connection, engine_id: str, name: str, ttl_ms: int) -> None:
    now = server_ms(conn)
    held = select(L.engine_id).where(L.engine_id.is_not(None))
    conn.execute(
        delete(engines).where(
            func.coalesce(E.stopped_ms, E.heartbeat_ms) < now - FORGET_AFTER_MS,
            E.engine_id.not_in(held),
        )
    )
    conn.execute(
        engines.insert().values(
            engine_id=engine_id,
            host=socket.gethostname(),
            pid=os.getpid(),
            name=name,
            started_ms=now,
            heartbeat_ms=now,
            ttl_ms=ttl_ms,
            stopped_ms=None,
        )
    )


def deregister(conn: Connection, engine_id: str) -> None:
    """A clean shutdown: every lease of the engine released, the engine marked stopped."""
    now = server_ms(conn)
    conn.execute(
        update(bot_leases).where(L.engine_id == engine_id).values(engine_id=None, expires_ms=now)
    )
    conn.execute(update(engines).where(E.engine_id == engine_id).values(stopped_ms=now))


def claim(
    conn: Connection, bot: str, bot_id: int, engine_id: str, ttl_ms: int, exclusive: bool
) -> LeaseClaim:
    """Take or extend the lease of ``bot``; ``exclusive`` (SQLite: the file lock proves no
    other engine runs) takes it whoever holds it. A holder in THIS process space (same boot,
    same pid namespace: ``process_space``, written in both engine ids) whose process is gone
    (a killed engine restarted here) is known dead: its lease is taken at once, as expired.
    A holder of the same host NAME only is never probed (its pid means nothing here): its
    lease is taken after its ttl, like any other engine's."""
    got = _claim(conn, bot, bot_id, engine_id, ttl_ms, exclusive, None)
    if got.ok:
        return got
    dead = conn.execute(
        select(E.engine_id, E.pid)
        .select_from(bot_leases.join(engines, E.engine_id == L.engine_id))
        .where(L.bot_id == bot_id, E.host == socket.gethostname())
    ).first()
    here = _space_of(engine_id)
    if dead is None or not here or _space_of(str(dead[0])) != here or _alive(int(dead[1])):
        return got
    conn.execute(  # said stopped (`oxbot status`): it will not come back
        update(engines)
        .where(E.engine_id == dead[0], E.stopped_ms.is_(None))
        .values(stopped_ms=server_ms(conn))
    )
    return _claim(conn, bot, bot_id, engine_id, ttl_ms, exclusive, str(dead[0]))


def lock_timed_out(e: BaseException) -> bool:
    """Whether ``e`` (or its cause) is PostgreSQL's lock_timeout: SQLSTATE 55P03
    lock_not_available (PostgreSQL 15 documentation, Appendix A, "Class 55")."""
    seen: BaseException | None = e
    while seen is not None:
        if getattr(seen, "sqlstate", None) == "55P03" or getattr(seen, "pgcode", None) == "55P03":
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False


def _alive(pid: int) -> bool:
    """Whether a process of this host has ``pid`` (another user's counts: it may be one)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _claim(
    conn: Connection,
    bot: str,
    bot_id: int,
    engine_id: str,
    ttl_ms: int,
    exclusive: bool,
    dead: str | None,
) -> LeaseClaim:
    now = server_ms(conn)
    ins = (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(bot_leases)
    ins = ins.values(
        bot_id=bot_id,
        engine_id=engine_id,
        epoch=1,
        acquired_ms=now,
        expires_ms=now + ttl_ms,
        must_reconcile=False,
    )
    other = L.engine_id.is_distinct_from(engine_id)
    taken = and_(L.engine_id.is_not(None), L.engine_id != engine_id)  # from an expired owner
    upsert = ins.on_conflict_do_update(
        index_elements=[L.bot_id],
        set_={
            "engine_id": engine_id,
            "epoch": case((other, L.epoch + 1), else_=L.epoch),
            "acquired_ms": case((other, now), else_=L.acquired_ms),
            "expires_ms": now + ttl_ms,
            "must_reconcile": case(
                (taken, True), (L.engine_id.is_(None), False), else_=L.must_reconcile
            ),
        },
        where=None
        if exclusive
        else or_(
            L.engine_id.is_(None),
            L.engine_id == engine_id,
            L.expires_ms < now,
            *([L.engine_id == dead] if dead is not None else []),
        ),
    ).returning(L.epoch, L.must_reconcile)
    row = conn.execute(upsert).first()
    if row is not None:
        return LeaseClaim(bot, True, int(row[0]), bool(row[1]))
    held = conn.execute(
        select(E.name, E.host, L.expires_ms - now)
        .select_from(bot_leases.join(engines, E.engine_id == L.engine_id))
        .where(L.bot_id == bot_id)
    ).first()
    if held is None:  # released meanwhile: cannot happen inside the upsert's lock; say so
        return LeaseClaim(bot, False, owner="?")
    return LeaseClaim(bot, False, owner=held[0], owner_host=held[1], expires_in_ms=int(held[2]))


def renew(conn: Connection, engine_id: str, ttl_ms: int) -> dict[int, int]:
    """Extend every lease of the engine (one statement) and beat its heart; returns bot id ->
    epoch of the leases it still holds."""
    now = server_ms(conn)
    rows = conn.execute(
        update(bot_leases)
        .where(L.engine_id == engine_id)
        .values(expires_ms=now + ttl_ms)
        .returning(L.bot_id, L.epoch)
    ).all()
    conn.execute(update(engines).where(E.engine_id == engine_id).values(heartbeat_ms=now))
    return {int(b): int(e) for b, e in rows}


def release(conn: Connection, bot_id: int, engine_id: str) -> None:
    """A stop: the lease is free at once (its epoch kept: the next owner adds 1)."""
    conn.execute(
        update(bot_leases)
        .where(L.bot_id == bot_id, L.engine_id == engine_id)
        .values(engine_id=None, expires_ms=server_ms(conn))
    )


def reconciled(conn: Connection, bot_id: int, engine_id: str, epoch: int) -> None:
    """The new owner restored and settled the bot: ``must_reconcile`` cleared."""
    conn.execute(
        update(bot_leases)
        .where(L.bot_id == bot_id, L.engine_id == engine_id, L.epoch == epoch)
        .values(must_reconcile=False)
    )


def fence(conn: Connection, bot: str, bot_id: int, engine_id: str, epoch: int | None) -> None:
    """LeaseLost unless this engine still holds ``bot`` at ``epoch`` (None: a bot this engine
    has not claimed, a stopped one: refused only while another engine holds it). Run inside
    the write's transaction, before its statements."""
    if epoch is not None:
        held = conn.execute(
            update(bot_leases)
            .where(L.bot_id == bot_id, L.engine_id == engine_id, L.epoch == epoch)
            .values(epoch=L.epoch)  # a no-op that locks the row until the write commits
        ).rowcount
        if held:
            return
    owner = conn.execute(
        select(E.name, E.host)
        .select_from(bot_leases.join(engines, E.engine_id == L.engine_id))
        .where(L.bot_id == bot_id, L.engine_id != engine_id)
    ).first()
    if owner is None:
        if epoch is None:
            return  # nobody else holds it
        raise LeaseLost(f"bot {bot} lost its lease (released); nothing was written", bot, "")
    raise LeaseLost(
        f"bot {bot} was taken over by engine {owner[0]} ({owner[1]}); nothing was written",
        bot,
        str(owner[0]),
    )


def unheld(conn: Connection, bot: str, bot_id: int) -> None:
    """A write by a shell with no engine of its own (``oxbot bots stop|pause|edit|delete`` on
    a shared database): LeaseLost while an engine holds a lease of ``bot`` that still runs,
    since that engine trades the bot and the write would go behind its back. Locks the lease
    row (FOR SHARE) until the write commits, so no engine claims it meanwhile."""
    owner = conn.execute(
        select(E.name, E.host)
        .select_from(bot_leases.join(engines, E.engine_id == L.engine_id))
        .where(L.bot_id == bot_id, L.expires_ms >= server_ms(conn))
        .with_for_update(read=True, of=bot_leases)
    ).first()
    if owner is not None:
        raise LeaseLost(
            f"bot {bot} runs on engine {owner[0]} ({owner[1]}): change it there; nothing was "
            "written",
            bot,
            str(owner[0]),
        )


def listing(conn: Connection, names: dict[int, str]) -> list[EngineRecord]:
    """Every engine, newest first, with the bots whose lease it holds (``names``: bot id ->
    name). An engine is alive when not stopped and its heartbeat is younger than its ttl."""
    now = server_ms(conn)
    rows = conn.execute(
        select(
            E.engine_id, E.name, E.host, E.pid, now - E.heartbeat_ms, E.stopped_ms, E.ttl_ms
        ).order_by(E.started_ms.desc())
    ).all()
    held: dict[str, list[str]] = {}
    for bot_id, engine_id in conn.execute(
        select(L.bot_id, L.engine_id).where(L.engine_id.is_not(None), L.expires_ms >= now)
    ):
        held.setdefault(str(engine_id), []).append(names.get(int(bot_id), f"#{bot_id}"))
    return [
        EngineRecord(
            str(eid),
            str(name),
            str(host),
            int(pid),
            int(age),
            stopped is None and int(age) <= int(ttl),
            stopped is not None,
            tuple(sorted(held.get(str(eid), []))),
        )
        for eid, name, host, pid, age, stopped, ttl in rows
    ]
