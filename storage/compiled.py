"""Core statements compiled once to SQLite text, for the writes every bot makes every cycle.

``record_cycle`` runs for every fill of every bot, inside the writer's transaction, while a
lockstep replay waits for it: executing a Core statement (cache lookup, parameter dicts, bind
processors per row) cost more there than SQLite's own work. ``Compiled`` keeps the statement's
text with named parameters and applies the one bind processing those tables need, the exact
text of a Decimal (``schema.ExactDecimal``, the same check: a float is refused), so the rows
written are the ones the Core statement would have written (tests/storage prove it).
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Table, exc
from sqlalchemy.dialects import sqlite
from sqlalchemy.sql.dml import Delete, Insert

from .schema import ExactDecimal

_NAMED = sqlite.dialect(paramstyle="named")
_EXACT = ExactDecimal()


class Compiled:
    """``stmt`` (an insert or delete of ``table``) as text, for rows with the keys ``keys``."""

    def __init__(self, stmt: Insert | Delete, table: Table, keys: Sequence[str]) -> None:
        self.sql = str(stmt.compile(dialect=_NAMED, column_keys=list(keys)))
        self._exact = tuple(
            c.name for c in table.c if isinstance(c.type, ExactDecimal) and c.name in keys
        )

    def bind(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """``row`` with every amount as its exact text (TypeError for a float, as Core)."""
        out = dict(row)
        for name in self._exact:
            out[name] = exact_text(out[name])
        return out

    def run(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        """Execute for ``rows`` (one statement each); the number of rows changed."""
        if len(rows) == 1:
            return execute(conn, self.sql, self.bind(rows[0]))
        return execute(conn, self.sql, [self.bind(r) for r in rows], many=True)


def query(conn: Connection, sql: str, params: Any) -> list[Any]:
    """The rows of ``sql`` on the driver's own cursor, inside ``conn``'s transaction (errors
    raised as ``execute`` raises them): the equity thinning's reads."""
    driver = conn.connection.driver_connection
    assert driver is not None  # a connection in a transaction
    cur = driver.cursor()
    try:
        cur.execute(sql, params)
        rows: list[Any] = cur.fetchall()
        return rows
    except sqlite3.Error as e:
        raise exc.DBAPIError.instance(sql, params, e, sqlite3.Error) from e
    finally:
        cur.close()


def execute(conn: Connection, sql: str, params: Any, *, many: bool = False) -> int:
    """``sql`` on the driver's own cursor, inside ``conn``'s transaction (SQLAlchemy's
    ``exec_driver_sql`` spent ~65 us per call around SQLite's ~10). A driver error is raised as
    the SQLAlchemy error ``exec_driver_sql`` would have raised (IntegrityError, ...), so the
    callers' handling (a full disk said in words, a broken rule named) is the same."""
    driver = conn.connection.driver_connection
    assert driver is not None  # a connection in a transaction
    cur = driver.cursor()
    try:
        if many:
            cur.executemany(sql, params)
        else:
            cur.execute(sql, params)
        return int(cur.rowcount)
    except sqlite3.Error as e:
        raise exc.DBAPIError.instance(sql, params, e, sqlite3.Error) from e
    finally:
        cur.close()


@functools.lru_cache(maxsize=64)
def numbered(sql: str) -> str:
    """``sql`` with its ``?`` marks as ``$1, $2, ...`` (asyncpg's, SQLAlchemy's paramstyle
    "numeric_dollar" for it); the statements given have no ``?`` inside literals."""
    parts = sql.split("?")
    return "".join(f"{p}${i}" for i, p in enumerate(parts[:-1], 1)) + parts[-1]


def exact_text(value: Any) -> str | None:
    """What ``schema.ExactDecimal`` stores for ``value``: a finite Decimal's exact text at
    once, anything else through the type's own check (a float or NaN refused)."""
    if type(value) is Decimal and value.is_finite():
        return str(value)
    out = _EXACT.process_bind_param(value, _NAMED)  # SQLite's dialect: the text
    return None if out is None else str(out)
