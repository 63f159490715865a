"""What went wrong with the database file, in the user's words: a full disk is a full disk, a
damaged file is damaged, and `oxbot doctor` checks every page.

SQLite says "database or disk is full" (SQLITE_FULL) when a write finds no space, but a full
disk can also surface as "disk I/O error" (the WAL index or journal cannot grow); only then is
the free space looked at. "database disk image is malformed" (SQLITE_CORRUPT) and "file is not
a database" (SQLITE_NOTADB) mean damage.
"""

from __future__ import annotations

import errno
import shutil
import sqlite3
from pathlib import Path

FULL, DAMAGED = "full", "damaged"
# sqlite3 result codes (https://www.sqlite.org/rescode.html); the low byte of extended codes
SQLITE_CORRUPT, SQLITE_FULL, SQLITE_IOERR, SQLITE_NOTADB = 11, 13, 10, 26
LOW_SPACE = 64 * 1024  # less than this free beside the file: a failed write is a full disk


def _chain(e: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cur: BaseException | None = e
    while cur is not None and cur not in seen:
        seen.append(cur)
        cur = getattr(cur, "orig", None) or cur.__cause__ or cur.__context__
    return seen


def free_bytes(path: Path) -> int | None:
    """Free space on the disk holding ``path`` (its nearest existing folder)."""
    folder = path if path.is_dir() else path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def classify(e: BaseException, path: Path | None = None) -> str | None:
    """FULL, DAMAGED or None for an exception raised while using the database at ``path``."""
    for err in _chain(e):
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            return FULL
        if not isinstance(err, sqlite3.Error):
            continue
        code = (getattr(err, "sqlite_errorcode", None) or 0) & 0xFF
        text = str(err).lower()
        if code == SQLITE_FULL or "database or disk is full" in text:
            return FULL
        if (
            code in (SQLITE_CORRUPT, SQLITE_NOTADB)
            or "malformed" in text
            or "not a database" in text
        ):
            return DAMAGED
        if code == SQLITE_IOERR or "disk i/o error" in text:
            free = free_bytes(path) if path is not None else None
            if free is not None and free < LOW_SPACE:
                return FULL
    return None


def describe(e: BaseException, path: Path) -> str | None:
    """One line for a full disk or a damaged file (None for anything else)."""
    kind = classify(e, path)
    if kind == FULL:
        free = free_bytes(path)
        left = f" ({free // 1024} KiB free)" if free is not None else ""
        return (
            f"the disk holding {path} is full{left}: free some space and try again; what "
            "could not be written was not saved"
        )
    if kind == DAMAGED:
        return (
            f"{path} is damaged ({first_sqlite_message(e)}); check it with `oxbot "
            "doctor`, then restore a backup or start a new database with --db NEW.db"
        )
    return None


def first_sqlite_message(e: BaseException) -> str:
    """SQLite's own words for the error (without SQLAlchemy's decoration)."""
    for err in _chain(e):
        if isinstance(err, sqlite3.Error):
            return str(err)
    return str(e)


def integrity_problems(path: Path, limit: int = 20) -> list[str]:
    """``PRAGMA integrity_check`` on a read-only connection: [] when every page is sound, else
    the first ``limit`` problems SQLite reports. Raises sqlite3.Error when the file cannot be
    read at all (the caller says so)."""
    from .migrations import readonly_uri  # noqa: PLC0415

    conn = sqlite3.connect(readonly_uri(path), uri=True, isolation_level=None, timeout=5)
    try:
        rows = conn.execute(f"PRAGMA integrity_check({int(limit)})").fetchall()
    finally:
        conn.close()
    problems = [
        line.strip()
        for r in rows
        for line in str(r[0]).splitlines()
        if line.strip() and not line.startswith("***")
    ]  # "*** in database main ***"
    return [] if problems == ["ok"] else problems[:limit]


# PostgreSQL's SQLSTATE codes (PostgreSQL 15 docs, Appendix A "PostgreSQL Error Codes") for
# what a write of a healthy engine meets on a slow or shared server, with the settings that
# cause them (storage/leases.py ``session_timeouts``, storage/pg.py ``IDLE_IN_TRANSACTION``):
# 57014 query_canceled ("canceling statement due to statement timeout"), 55P03 lock_not_available
# ("canceling statement due to lock timeout"), 25P03 idle_in_transaction_session_timeout,
# 40P01 deadlock_detected, 40001 serialization_failure, 57P01 admin_shutdown, 08xxx connection.
_PG_STATES = {
    "57014": "the server did not finish the write within its statement timeout (a slow or "
    "overloaded server)",
    "55P03": "the write waited too long for a row another session holds locked (another "
    "engine's write, or a hung one)",
    "25P03": "the server ended the session: it sat idle inside a transaction too long (the "
    "engine was paused or cut off)",
    "40P01": "the server found a deadlock with another session and cancelled this write",
    "40001": "the server cancelled the write: it conflicted with another session's",
    "57P01": "the server is shutting down",
}


def describe_pg(e: BaseException) -> str | None:
    """One line, without driver class names, for a PostgreSQL error a write can meet and
    retry; None for anything else (a constraint, a bug: said as it is)."""
    for err in _chain(e):
        state = getattr(err, "sqlstate", None) or getattr(err, "pgcode", None)
        if not isinstance(state, str):
            continue
        said = _PG_STATES.get(state) or (
            "the connection to the server was lost" if state.startswith("08") else None
        )
        if said:
            return f"{said}; nothing of it was saved (SQLSTATE {state})"
    for err in _chain(e):
        if (
            isinstance(err, (ConnectionError, TimeoutError))
            or "ConnectionDoesNotExist" in type(err).__name__
        ):
            return "the connection to the server was lost; nothing of the write was saved"
    return None
