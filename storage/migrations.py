"""Schema versions and the migrations between them, run with the stdlib sqlite3 driver.

Rules that keep a user's ledger safe:
- the version is read on a READ-ONLY connection first, so a database from a newer oxbot (or a
  file that is not ours) is refused before a single byte is written to it;
- pending migrations run in ONE ``BEGIN IMMEDIATE`` transaction (SQLite DDL is transactional):
  a failure leaves the database exactly at its old version;
- each migration's DDL is frozen text. Never edit a released migration; append a new one.
  tests/storage/test_storage_schema.py proves the result equals schema.py's models.

Alembic (storage/alembic/) takes over after version 5, for SQLite and PostgreSQL alike: its
baseline revision ``v5`` is the schema these migrations build. A SQLite database at version 5
is stamped with it (the ``alembic_version`` table alembic keeps), then alembic applies the later
revisions (``v6``: engines and bot leases), all in the same transaction; alembic is imported
only when a database is created or upgraded. PostgreSQL databases are created by alembic
(storage/pg.py). The schema version stays 5; the revision says what came after. A database
whose alembic revision this oxbot does not know comes from a newer oxbot and is refused,
untouched, like a newer ``schema_version``; a reader refuses one not yet at the head.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from oxbot.engine.errors import SchemaTooNew, StorageError

SQLITE_HEADER = b"SQLite format 3\x00"

# Applied on every connection, writer or reader (busy_timeout in ms: at least 5 s).
PRAGMAS: tuple[str, ...] = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA busy_timeout=5000",
    "PRAGMA foreign_keys=ON",
)
# A read-only connection cannot switch the journal mode; the writer already did.
READER_PRAGMAS: tuple[str, ...] = PRAGMAS[1:]


@dataclass(frozen=True, slots=True)
class Migration:
    """One step from ``version - 1`` to ``version``: SQL statements, then an optional function
    for data changes (it gets the open sqlite3 connection, inside the transaction)."""

    version: int
    description: str
    statements: tuple[str, ...] = ()
    run: Callable[[sqlite3.Connection], None] | None = None

    def apply(self, conn: sqlite3.Connection) -> None:
        for statement in self.statements:
            conn.execute(statement)
        if self.run is not None:
            self.run(conn)


_V1 = (
    """CREATE TABLE schema_version (
        id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
        version INTEGER NOT NULL,
        updated_ts INTEGER NOT NULL)""",
    """CREATE TABLE bots (
        id INTEGER NOT NULL PRIMARY KEY,
        name TEXT NOT NULL,
        config TEXT NOT NULL,
        status VARCHAR(16) NOT NULL,
        created_ts INTEGER NOT NULL,
        updated_ts INTEGER NOT NULL,
        deleted BOOLEAN DEFAULT 0 NOT NULL)""",
    "CREATE UNIQUE INDEX ux_bots_live_name ON bots (name) WHERE deleted = 0",
    """CREATE TABLE orders (
        client_order_id TEXT NOT NULL PRIMARY KEY,
        bot_id INTEGER NOT NULL REFERENCES bots (id),
        bot TEXT NOT NULL,
        symbol TEXT NOT NULL,
        side VARCHAR(8) NOT NULL,
        qty TEXT NOT NULL,
        reason VARCHAR(16) NOT NULL,
        status VARCHAR(16) NOT NULL,
        ts INTEGER NOT NULL,
        exchange_order_id TEXT,
        stop_loss TEXT,
        take_profit TEXT)""",
    "CREATE INDEX ix_orders_bot_ts ON orders (bot_id, ts)",
    "CREATE INDEX ix_orders_status ON orders (status)",
    """CREATE TABLE fills (
        seq INTEGER NOT NULL PRIMARY KEY,
        fill_id TEXT NOT NULL UNIQUE,
        client_order_id TEXT NOT NULL REFERENCES orders (client_order_id),
        bot_id INTEGER NOT NULL REFERENCES bots (id),
        bot TEXT NOT NULL,
        symbol TEXT NOT NULL,
        side VARCHAR(8) NOT NULL,
        qty TEXT NOT NULL,
        price TEXT NOT NULL,
        fee TEXT NOT NULL,
        ts INTEGER NOT NULL,
        reason VARCHAR(16) NOT NULL)""",
    "CREATE INDEX ix_fills_bot_ts ON fills (bot_id, ts, seq)",
    """CREATE TABLE positions (
        bot_id INTEGER NOT NULL REFERENCES bots (id),
        symbol TEXT NOT NULL,
        bot TEXT NOT NULL,
        side VARCHAR(8) DEFAULT 'long' NOT NULL,
        qty TEXT NOT NULL,
        avg_entry TEXT NOT NULL,
        stop_loss TEXT,
        take_profit TEXT,
        opened_ts INTEGER NOT NULL,
        PRIMARY KEY (bot_id, symbol))""",
    """CREATE TABLE decisions (
        id INTEGER NOT NULL PRIMARY KEY,
        bot_id INTEGER NOT NULL REFERENCES bots (id),
        bot TEXT NOT NULL,
        ts INTEGER NOT NULL,
        source TEXT NOT NULL,
        actions TEXT NOT NULL,
        reasoning TEXT NOT NULL,
        verdict TEXT NOT NULL,
        verdict_reasons TEXT NOT NULL,
        order_ids TEXT NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        prompt_hash TEXT NOT NULL,
        prompt TEXT NOT NULL,
        raw_reply TEXT NOT NULL,
        parsed TEXT NOT NULL,
        error TEXT NOT NULL,
        tokens_in INTEGER NOT NULL,
        tokens_out INTEGER NOT NULL,
        cost TEXT NOT NULL,
        latency_ms INTEGER NOT NULL)""",
    "CREATE INDEX ix_decisions_bot_ts ON decisions (bot_id, ts)",
    """CREATE TABLE equity_points (
        id INTEGER NOT NULL PRIMARY KEY,
        bot_id INTEGER NOT NULL REFERENCES bots (id),
        bot TEXT NOT NULL,
        ts INTEGER NOT NULL,
        equity TEXT NOT NULL,
        cash TEXT NOT NULL)""",
    "CREATE INDEX ix_equity_points_bot_ts ON equity_points (bot_id, ts)",
)

_V2 = (
    # Wall-clock time a decision was stored: LLM budgets are per real day, while ``ts`` is the
    # market's clock (the sim's may run far ahead of, or behind, the wall clock).
    "ALTER TABLE decisions ADD COLUMN created_ms INTEGER NOT NULL DEFAULT 0",
    "UPDATE decisions SET created_ms = ts",
)

_V3 = (
    """CREATE TABLE market_marks (
        stream TEXT NOT NULL PRIMARY KEY,
        ts INTEGER NOT NULL,
        close TEXT NOT NULL)""",
)

_V4 = (
    # The P&L each fill realised, so a restarted cockpit's Fills panel still shows it.
    # Fills stored before keep NULL (unknown), never a made-up 0.
    "ALTER TABLE fills ADD COLUMN realised TEXT",
)

_V5 = (
    # The fee as the exchange charged it (LIVE): its currency ('' = the quote currency, as every
    # fill stored before) and its amount in that currency. A fee in the base coin is taken from
    # the coins received, so the position is what the account holds.
    "ALTER TABLE fills ADD COLUMN fee_currency TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE fills ADD COLUMN fee_cost TEXT",
    # A LIVE order's fills are read back on every lookup of the order.
    "CREATE INDEX ix_fills_order ON fills (client_order_id)",
    # Notes on a decision that are not errors: usage replaced by an estimate, and why.
    "ALTER TABLE decisions ADD COLUMN flags TEXT NOT NULL DEFAULT ''",
    # What the kill switches remember (peak equity, the market day and its opening equity):
    # they used to live in memory only, so a restart or an edit reset a tripped switch.
    """CREATE TABLE risk_state (
        bot_id INTEGER NOT NULL PRIMARY KEY REFERENCES bots (id),
        bot TEXT NOT NULL,
        peak_equity TEXT,
        day INTEGER,
        day_start_equity TEXT,
        updated_ts INTEGER NOT NULL)""",
    # Deposits (amount > 0) and withdrawals (< 0) a capital edit makes: never P&L.
    """CREATE TABLE capital_flows (
        id INTEGER NOT NULL PRIMARY KEY,
        bot_id INTEGER NOT NULL REFERENCES bots (id),
        bot TEXT NOT NULL,
        ts INTEGER NOT NULL,
        amount TEXT NOT NULL,
        capital TEXT NOT NULL,
        equity_before TEXT NOT NULL,
        created_ms INTEGER NOT NULL)""",
    "CREATE INDEX ix_capital_flows_bot_ts ON capital_flows (bot_id, ts)",
)


def _v5_risk_state(conn: sqlite3.Connection) -> None:
    """Seed each bot's kill-switch memory from its stored equity points, so the upgrade does
    not reset a switch: the peak, and the first equity of its last market day."""
    from decimal import Decimal, InvalidOperation  # noqa: PLC0415

    day_ms = 86_400_000
    rows = conn.execute("SELECT bot_id, bot, ts, equity FROM equity_points ORDER BY bot_id, ts, id")
    seen: dict[int, tuple[str, Decimal, int, Decimal]] = {}  # bot_id -> bot, peak, day, start
    for bot_id, bot, ts, text in rows:
        try:
            equity = Decimal(text)
        except InvalidOperation:
            continue
        if not equity.is_finite():
            continue
        day = int(ts) // day_ms
        name, peak, last_day, start = seen.get(bot_id, (bot, equity, day, equity))
        if equity > peak:
            peak = equity
        if day != last_day:
            last_day, start = day, equity
        seen[bot_id] = (name, peak, last_day, start)
    now = int(time.time() * 1000)
    conn.executemany(
        "INSERT INTO risk_state (bot_id, bot, peak_equity, day, day_start_equity, updated_ts) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [
            (bot_id, bot, str(peak), day, str(start), now)
            for bot_id, (bot, peak, day, start) in seen.items()
        ],
    )


# Alembic's revisions, oldest first (tests/storage/test_storage_alembic.py checks them against
# storage/alembic/versions): a new revision is appended here and runs on both backends.
REVISIONS: tuple[str, ...] = ("v5", "v6")
ALEMBIC_HEAD = REVISIONS[-1]
BASELINE = "v5"  # the revision of schema version 5, the last hand-written migration
_STAMP = (
    # alembic's own version table, as alembic creates it (alembic/runtime/migration.py)
    "CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) NOT NULL, "
    "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))",
    "DELETE FROM alembic_version",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "create all tables", _V1),
    Migration(2, "decisions.created_ms (wall clock) for daily LLM budgets", _V2),
    Migration(3, "market_marks: where each sim stream stopped", _V3),
    Migration(4, "fills.realised: the P&L each fill realised", _V4),
    Migration(
        5,
        "fills.fee_currency, fills.fee_cost: fees in the coin the exchange took; "
        "decisions.flags: usage estimated, and why; risk_state (kill switches) and "
        "capital_flows (deposits, withdrawals)",
        _V5,
        _v5_risk_state,
    ),
)


def alembic_location() -> Path:
    """The folder of alembic's env.py and revisions (installed with the package)."""
    return Path(__file__).with_name("alembic")


def latest_version(migrations: Sequence[Migration] | None = None) -> int:
    """The schema version this code writes."""
    migrations = MIGRATIONS if migrations is None else migrations
    return max((m.version for m in migrations), default=0)


def readonly_uri(path: Path) -> str:
    """A sqlite URI that opens ``path`` read-only (nothing can be written through it)."""
    return f"file:{quote(str(path.absolute()))}?mode=ro"


def inspect_version(path: Path) -> int:
    """The schema version of the database at ``path`` without writing anything to it:
    0 for a missing, empty or table-less file. StorageError for a file that is not a SQLite
    database, or a SQLite database that is not oxbot's."""
    return inspect(path)[0]


def inspect(path: Path) -> tuple[int, str | None]:
    """``inspect_version`` and the alembic revision (None: not stamped), read-only."""
    if not path.exists():
        return 0, None
    if path.is_dir():
        raise StorageError(f"{path} is a directory; give --db the path of a database file")
    with path.open("rb") as f:
        header = f.read(len(SQLITE_HEADER))
    if not header:
        return 0, None
    if header != SQLITE_HEADER:
        raise StorageError(
            f"{path} is not a SQLite database; point --db (or OXBOT_DB) at an oxbot database "
            "or at a new file name"
        )
    try:
        conn = sqlite3.connect(readonly_uri(path), uri=True, isolation_level=None)
    except sqlite3.Error as e:
        raise StorageError(f"cannot open {path}: {e}") from e
    try:
        conn.execute(f"PRAGMA busy_timeout={5000}")
        version = _version(conn, path)
        return version, _revision(conn) if version else None
    except sqlite3.DatabaseError as e:
        from .health import FULL, classify  # noqa: PLC0415

        if classify(e, path) == FULL:  # a full disk is not damage
            from .health import describe  # noqa: PLC0415

            raise StorageError(describe(e, path) or str(e)) from e
        raise StorageError(
            f"{path} is damaged or not a database ({e}); check it with `oxbot doctor`, then "
            "restore a backup or use another --db"
        ) from e
    finally:
        conn.close()


def _version(conn: sqlite3.Connection, path: Path) -> int:
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "schema_version" not in tables:
        if tables:
            raise StorageError(
                f"{path} is a SQLite database but not oxbot's (no schema_version table); "
                "use --db with another file"
            )
        return 0
    row = conn.execute("SELECT version FROM schema_version WHERE id = 1").fetchone()
    if row is None:
        raise StorageError(f"{path} has an empty schema_version table; restore a backup")
    return int(row[0])


def _revision(conn: sqlite3.Connection) -> str | None:
    tables = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
    ).fetchall()
    if not tables:
        return None
    row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return None if row is None else str(row[0])


def check_revision(where: object, revision: str | None, latest: int) -> None:
    """SchemaTooNew for an alembic revision this oxbot does not know (a newer oxbot's)."""
    if revision is not None and revision not in REVISIONS:
        raise SchemaTooNew(
            f"{where} is at schema revision {revision!r}, which this oxbot (up to "
            f"{ALEMBIC_HEAD!r}, version {latest}) does not know; upgrade oxbot to open it "
            "(nothing was written)"
        )


def too_new(path: object, found: int, known: int) -> SchemaTooNew:
    return SchemaTooNew(
        f"{path} has schema version {found}, but this oxbot knows only up to version {known}; "
        "upgrade oxbot to open it (nothing was written)"
    )


def prepare_writer(path: Path, migrations: Sequence[Migration] | None = None) -> int:
    """Create or migrate the database for a writer; returns the version it is now at.

    The caller holds the WriterLock. Raises SchemaTooNew (nothing written) for a newer database.
    """
    migrations = sorted(MIGRATIONS if migrations is None else migrations, key=lambda m: m.version)
    latest = latest_version(migrations)
    found, revision = inspect(path)  # read-only: refuses foreign and newer files untouched
    if found > latest:
        raise too_new(path, found, latest)
    check_revision(path, revision, latest)
    try:
        conn = sqlite3.connect(str(path), isolation_level=None)
    except sqlite3.Error as e:
        raise StorageError(f"cannot create or open {path}: {e}") from e
    try:
        apply_pragmas(conn.execute, PRAGMAS)  # WAL, before the writer engine connects
    except sqlite3.Error as e:
        raise _migrate_error(e, path, latest) from e
    finally:
        conn.close()
    stamp = latest == 5 and revision is None  # the migrations' last version: v5
    upgrade = (BASELINE if stamp else revision) != ALEMBIC_HEAD
    if found == latest and not stamp and not upgrade:
        return latest
    from sqlalchemy import exc as sa_exc  # noqa: PLC0415 - only when a schema changes

    from .engines import create_write_engine  # noqa: PLC0415 - engines imports this module

    # One BEGIN IMMEDIATE transaction for the hand-written migrations, the stamp and alembic's
    # later revisions (alembic runs inside it: an external transaction, storage/alembic/env.py).
    engine = create_write_engine(path)
    try:
        with engine.begin() as sa_conn:
            raw = sa_conn.connection.driver_connection
            assert isinstance(raw, sqlite3.Connection)
            found = _version(raw, path)  # re-read inside the write transaction
            if found > latest:
                raise too_new(path, found, latest)
            for migration in migrations:
                if migration.version > found:
                    migration.apply(raw)
            now = int(time.time() * 1000)
            raw.execute(
                "INSERT INTO schema_version (id, version, updated_ts) VALUES (1, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET version = excluded.version, "
                "updated_ts = excluded.updated_ts",
                (latest, now),
            )
            if stamp:
                for statement in _STAMP:
                    raw.execute(statement)
                raw.execute("INSERT INTO alembic_version (version_num) VALUES (?)", (BASELINE,))
            if upgrade:
                from .pg import alembic_upgrade  # noqa: PLC0415 - alembic loads slowly

                alembic_upgrade(sa_conn)
        return latest
    except (sqlite3.Error, sa_exc.DBAPIError) as e:
        raise _migrate_error(e, path, latest) from e
    finally:
        engine.dispose()


def _migrate_error(e: Exception, path: Path, latest: int) -> StorageError:
    from .health import describe  # noqa: PLC0415

    said = describe(e, path)  # a full disk or a damaged file, in words
    why = getattr(e, "orig", None) or e  # SQLAlchemy's wrapper: the driver's own words
    return StorageError(said or f"cannot migrate {path} to schema version {latest}: {why}")


def check_reader(path: Path) -> int:
    """The version of a database a reader may open; StorageError when it cannot be read."""
    found, revision = inspect(path)
    latest = latest_version()
    check_revision(path, revision, latest)
    if found == 0:
        raise StorageError(
            f"no oxbot database at {path}; start the engine once to create it, or check --db"
        )
    if found > latest:
        raise too_new(path, found, latest)
    check_current(path, found, revision, latest)
    return found


def check_current(where: object, found: int, revision: str | None, latest: int) -> None:
    """StorageError for a database older than this oxbot (a reader cannot upgrade it): an
    older schema version, or an alembic revision before the head."""
    if found < latest or revision != ALEMBIC_HEAD:
        now = found if found < latest else f"{found} (revision {revision or 'none'})"
        raise StorageError(
            f"{where} has schema version {now}, older than this oxbot's {latest} "
            f"(revision {ALEMBIC_HEAD}); start the engine (oxbot run) once to upgrade it, "
            "then read it"
        )


def apply_pragmas(execute: Callable[[str], object], pragmas: Iterable[str]) -> None:
    """Run each pragma through ``execute`` (a cursor's or a connection's)."""
    for pragma in pragmas:
        execute(pragma)
