"""The write side of the Store: synchronous, one transaction per method, run only in the
Store's writer thread (so writes are serialised and each costs one thread hop)."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, event, func, insert, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from oxbot.engine.errors import ConfigError, StorageError
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

from . import convert, health, leases, schema, thinning
from .compiled import Compiled, exact_text, execute
from .reads import live, now_ms
from .schema import bots, decisions, equity_points, fills, orders


def _upsert_order_of(ins: Any) -> Any:
    """The order upsert, with ``ins`` the dialect's insert (SQLite's or PostgreSQL's)."""
    upsert = ins(orders)
    return upsert.on_conflict_do_update(
        index_elements=[orders.c.client_order_id],
        set_={
            "status": upsert.excluded.status,
            # A later update without the exchange id keeps the one already learnt.
            "exchange_order_id": func.coalesce(
                upsert.excluded.exchange_order_id, orders.c.exchange_order_id
            ),
            "stop_loss": upsert.excluded.stop_loss,
            "take_profit": upsert.excluded.take_profit,
        },
    )


def _upsert_position_of(ins: Any) -> Any:
    upsert = ins(schema.positions)
    return upsert.on_conflict_do_update(
        index_elements=[schema.positions.c.bot_id, schema.positions.c.symbol],
        set_={
            c: getattr(upsert.excluded, c)
            for c in ("side", "qty", "avg_entry", "stop_loss", "take_profit", "opened_ts")
        },
    )


UPSERT_ORDER = _upsert_order_of(sqlite_insert)
INSERT_EQUITY = (
    f"INSERT INTO {equity_points.name} (bot_id, bot, ts, equity, cash) VALUES (?, ?, ?, ?, ?)"
)
_RISK_COLS = ("bot", "peak_equity", "day", "day_start_equity", "updated_ts")
UPSERT_RISK = (
    f"INSERT INTO {schema.risk_state.name} (bot_id, {', '.join(_RISK_COLS)}) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (bot_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _RISK_COLS)
)
# the text an amount is stored as (schema.ExactDecimal: a Decimal's exact text, floats refused)
_EXACT = schema.ExactDecimal()
INSERT_FILL = sqlite_insert(fills).on_conflict_do_nothing(index_elements=[fills.c.fill_id])
UPSERT_POSITION = _upsert_position_of(sqlite_insert)


class LedgerWriter:
    """Every write of the Store. Not thread-safe by design: only the writer thread calls it.

    On SQLite the cycle's statements run compiled on the driver's cursor (storage/compiled.py);
    on PostgreSQL (``engine`` is then the sync face of an asyncpg engine, called inside
    SQLAlchemy's greenlet by the Store) every statement goes through SQLAlchemy Core."""

    def __init__(self, engine: Engine, path: Path | str) -> None:
        self._engine = engine
        self._path = path
        self._fast = engine.dialect.name == "sqlite"  # the compiled, raw-cursor statements
        self._bot_ids: dict[str, int] = {}  # name -> live bot id, updated after commits only
        self._thinned: dict[int, thinning.Thinned] = {}  # bot id -> its last thinning pass
        # leases (storage/leases.py): this engine's id once registered, and the epoch of each
        # bot it holds. Fencing runs on PostgreSQL only: SQLite has one engine (its file lock),
        # and its cycle writes stay as fast as they were.
        self.engine_id: str | None = None
        self.epochs: dict[str, int] = {}
        # the bot id of each lease claimed, mapped at the claim (a bot claimed and not yet
        # written here has no entry in ``_bot_ids``: it must not read as lost at a renewal)
        self._lease_ids: dict[str, int] = {}
        self._timeouts: dict[str, str] = {}  # PostgreSQL session settings once registered
        self._fenced = not self._fast

    # ------------------------------------------------------------------ engines and leases

    def register_engine(self, name: str, ttl_ms: int) -> str:
        engine_id = leases.new_engine_id()
        if self._fenced:  # PostgreSQL: this session's timeouts, and every later one's
            self._timeouts = leases.session_timeouts(ttl_ms)
            event.listen(self._engine, "connect", self._set_timeouts)
        with self._transaction() as conn:
            if self._fenced:  # a SET in a transaction that commits stays for the session
                for key, value in self._timeouts.items():
                    conn.exec_driver_sql(f"SET {key} = {int(value)}")
            leases.register(conn, engine_id, name, ttl_ms)
        self.engine_id = engine_id
        return engine_id

    def _set_timeouts(self, dbapi_conn: Any, _record: Any) -> None:
        """A new write connection (the pool replaced a broken one) gets the same timeouts;
        ``run_async`` as in storage/pg.py ``_numeric_as_text``."""
        sql = "; ".join(f"SET {k} = {int(v)}" for k, v in self._timeouts.items())
        dbapi_conn.run_async(lambda conn: conn.execute(sql))

    def _engine_id(self) -> str:
        if self.engine_id is None:
            raise StorageError("this store has no engine registered (register_engine first)")
        return self.engine_id

    def claim(self, bot: str, ttl_ms: int) -> LeaseClaim:
        engine_id = self._engine_id()
        try:
            with self._transaction() as conn:
                bot_id = self._bot_id(conn, bot)
                got = leases.claim(conn, bot, bot_id, engine_id, ttl_ms, self._fast)
        except (StorageError, sa_exc.DBAPIError) as e:  # asyncpg's adapter: DBAPIError
            if not leases.lock_timed_out(e):
                raise
            # its lease row is locked by another engine's open transaction (a write of the
            # bot, or a hung engine's renewal): held for now, tried again at the next renewal
            return LeaseClaim(bot, False, owner="? (its lease row is locked)")
        if got.ok:
            self.epochs[bot] = got.epoch
            self._lease_ids[bot] = bot_id
        return got

    def renew(self, ttl_ms: int) -> list[str]:
        """Renew every lease of this engine; the bots it held and holds no more."""
        engine_id = self._engine_id()
        with self._transaction() as conn:
            held = leases.renew(conn, engine_id, ttl_ms)
        # lost: its lease row no longer this engine's at the epoch claimed (changed hands)
        lost = [
            b
            for b, ep in self.epochs.items()
            if b in self._lease_ids and held.get(self._lease_ids[b]) != ep
        ]
        for bot in lost:
            del self.epochs[bot]
            del self._lease_ids[bot]
        return lost

    def release(self, bot: str) -> None:
        engine_id = self._engine_id()
        with self._transaction() as conn:
            bot_id = self._lease_ids.get(bot)
            leases.release(conn, self._bot_id(conn, bot) if bot_id is None else bot_id, engine_id)
        self.epochs.pop(bot, None)
        self._lease_ids.pop(bot, None)

    def reconciled(self, bot: str) -> None:
        engine_id, epoch = self._engine_id(), self.epochs.get(bot)
        if epoch is None:
            return
        with self._transaction() as conn:
            leases.reconciled(conn, self._bot_id(conn, bot), engine_id, epoch)

    def deregister_engine(self) -> None:
        engine_id = self._engine_id()
        with self._transaction() as conn:
            leases.deregister(conn, engine_id)
        self.epochs.clear()
        self._lease_ids.clear()

    def _fence(self, conn: Connection, bot: str, bot_id: int) -> None:
        """LeaseLost (the transaction rolls back) unless this engine may write ``bot``."""
        if not self._fenced:
            return
        if self.engine_id is not None:
            leases.fence(conn, bot, bot_id, self.engine_id, self.epochs.get(bot))
        else:  # a shell with no engine: never behind the back of the engine running the bot
            leases.unheld(conn, bot, bot_id)

    def _order_row(self, order: Order, bot_id: int) -> dict[str, Any]:
        row = convert.order_to_row(order, bot_id)
        if not self._fast:  # who wrote the intent (SQLite: one engine; its fast path unchanged)
            row["engine_id"] = self.engine_id
        return row

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        try:
            with self._engine.begin() as conn:
                yield conn
        except sa_exc.IntegrityError:
            raise  # a constraint: the caller names the rule that was broken
        except sa_exc.DBAPIError as e:  # locked past busy_timeout, disk full, damaged, timed out
            # a full disk or a damaged file, in words
            if isinstance(self._path, Path):
                said = health.describe(e, self._path)
            else:  # PostgreSQL: a timeout or a lost connection, without the driver's classes
                pg = health.describe_pg(e)
                said = pg and f"writing to {self._path} failed: {pg}"
            raise StorageError(said or f"writing to {self._path} failed: {e.orig}") from e

    def _bot_id(self, conn: Connection, name: str) -> int:
        bot_id = self._bot_ids.get(name)
        if bot_id is None:
            query = select(bots.c.id).where(bots.c.name == name, live())
            bot_id = conn.execute(query).scalar_one_or_none()
            if bot_id is None:
                raise StorageError(f"no bot named {name!r} in {self._path}; save_bot it first")
        return bot_id

    def dispose(self) -> None:
        self._engine.dispose()

    # ------------------------------------------------------------------ bots

    def save_bot(
        self,
        config: BotConfig,
        status: BotStatus,
        flow: CapitalFlow | None = None,
        risk: RiskState | None = None,
    ) -> None:
        now = now_ms()
        values = {"config": convert.config_to_json(config), "status": status.value}
        with self._transaction() as conn:
            bot_id = conn.execute(
                update(bots)
                .where(bots.c.name == config.name, live())
                .values(**values, updated_ts=now)
                .returning(bots.c.id)
            ).scalar_one_or_none()
            if bot_id is not None:
                self._fence(conn, config.name, bot_id)
            if bot_id is None:
                bot_id = conn.execute(
                    insert(bots)
                    .values(
                        name=config.name, created_ts=now, updated_ts=now, deleted=False, **values
                    )
                    .returning(bots.c.id)
                ).scalar_one()
            if flow is not None:  # a capital edit: the deposit or withdrawal goes with it
                conn.execute(insert(schema.capital_flows), convert.flow_to_row(flow, bot_id, now))
            if risk is not None:
                self._put_risk(conn, bot_id, config.name, risk, now)
        self._bot_ids[config.name] = bot_id

    def save_risk_state(self, bot: str, state: RiskState, equity: Sequence[EquityPoint]) -> None:
        """The kill switches' memory, with the equity samples it was derived from."""
        self.group([("save_risk_state", (bot, state, equity))])

    def _add_equity(
        self, conn: Connection, bot_id: int, equity: Sequence[EquityPoint]
    ) -> thinning.Thinned | None:
        """Insert the samples and, every few hours of the bot's time, thin its older points
        (storage/thinning.py) in the same transaction. Returns the pass made, if any."""
        if not equity:
            return None
        # A plain executemany of tuples: SQLAlchemy Core's per-row work (parameter dicts, the
        # bind processors) cost more than SQLite's insert itself, and this runs for every batch
        # of samples of every bot. The amounts go through the column type's own check.
        if self._fast:
            rows = [(bot_id, p.bot, p.ts, exact_text(p.equity), exact_text(p.cash)) for p in equity]
            execute(conn, INSERT_EQUITY, rows, many=True)
        else:
            conn.execute(
                insert(equity_points),
                [
                    {"bot_id": bot_id, "bot": p.bot, "ts": p.ts, "equity": p.equity, "cash": p.cash}
                    for p in equity
                ],
            )
        last = self._thinned.get(bot_id)
        if not thinning.due(last, max(p.ts for p in equity)):
            return None
        return thinning.thin(conn, bot_id, last)

    def _note_thinned(self, bot_id: int, thinned: thinning.Thinned | None) -> None:
        if thinned is not None:  # after the commit only, like the bot ids
            self._thinned[bot_id] = thinned

    @staticmethod
    def _put_risk(conn: Connection, bot_id: int, bot: str, state: RiskState, now: int) -> None:
        exact, d = _EXACT.process_bind_param, conn.dialect
        if d.name != "sqlite":
            table = schema.risk_state
            upsert = pg_insert(table).values(
                bot_id=bot_id,
                bot=bot,
                peak_equity=state.peak_equity,
                day=state.day,
                day_start_equity=state.day_start_equity,
                updated_ts=now,
            )
            set_ = {c: getattr(upsert.excluded, c) for c in _RISK_COLS}
            conn.execute(upsert.on_conflict_do_update(index_elements=[table.c.bot_id], set_=set_))
            return
        execute(
            conn,
            UPSERT_RISK,
            (
                bot_id,
                bot,
                exact(state.peak_equity, d),
                state.day,
                exact(state.day_start_equity, d),
                now,
            ),
        )

    def add_bots(self, configs: Sequence[BotConfig], status: BotStatus) -> None:
        """Insert new bots all at once or not at all (an import): one transaction, which also
        refuses names already taken."""
        now = now_ms()
        ids: dict[str, int] = {}
        with self._transaction() as conn:
            names = [c.name for c in configs]
            taken = sorted(
                conn.execute(select(bots.c.name).where(bots.c.name.in_(names), live())).scalars()
            )
            if taken:
                raise ConfigError(f"bots already exist: {', '.join(taken)}; nothing imported")
            for config in configs:
                ids[config.name] = conn.execute(
                    insert(bots)
                    .values(
                        name=config.name,
                        config=convert.config_to_json(config),
                        status=status.value,
                        created_ts=now,
                        updated_ts=now,
                        deleted=False,
                    )
                    .returning(bots.c.id)
                ).scalar_one()
        self._bot_ids.update(ids)

    def set_bot_status(self, name: str, status: BotStatus) -> None:
        with self._transaction() as conn:
            result = conn.execute(
                update(bots)
                .where(bots.c.name == name, live())
                .values(status=status.value, updated_ts=now_ms())
                .returning(bots.c.id)
            ).scalar_one_or_none()
            if result is None:
                raise StorageError(f"no bot named {name!r} in {self._path}")
            self._fence(conn, name, result)

    def save_marks(self, marks: Mapping[str, tuple[int, Decimal]]) -> None:
        table = schema.market_marks
        ins = sqlite_insert if self._fast else pg_insert
        with self._transaction() as conn:
            for stream, (ts, close) in marks.items():
                stmt = ins(table).values(stream=stream, ts=ts, close=close)
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=[table.c.stream], set_={"ts": ts, "close": close}
                    )
                )

    def delete_bot(self, name: str, purge_history: bool) -> bool:
        self._bot_ids.pop(name, None)
        with self._transaction() as conn:
            query = select(bots.c.id).where(bots.c.name == name, live())
            bot_id = conn.execute(query).scalar_one_or_none()
            if bot_id is not None:
                self._fence(conn, name, bot_id)
            if purge_history:
                # A purge also clears the kept history of earlier, soft-deleted bots of that name.
                ids = conn.execute(select(bots.c.id).where(bots.c.name == name)).scalars().all()
                if not ids:
                    return False
                for table in (
                    schema.bot_leases,
                    fills,
                    orders,
                    schema.positions,
                    decisions,
                    equity_points,
                    schema.risk_state,
                    schema.capital_flows,
                ):
                    # fills before orders: fills reference orders.
                    conn.execute(delete(table).where(table.c.bot_id.in_(ids)))
                conn.execute(delete(bots).where(bots.c.id.in_(ids)))
                for gone in ids:  # a new bot may get a purged id: it starts unthinned
                    self._thinned.pop(gone, None)
                return True
            if bot_id is None:
                return False
            else:
                conn.execute(
                    update(bots)
                    .where(bots.c.id == bot_id)
                    .values(deleted=True, updated_ts=now_ms())
                )
        return True

    # ------------------------------------------------------------------ ledger

    def record_cycle(
        self,
        bot: str,
        orders: Sequence[Order],
        fills: Sequence[Fill],
        positions: Mapping[str, Position | None],
        decision: DecisionRecord | None,
        equity: Sequence[EquityPoint],
    ) -> list[bool]:
        flags: list[bool] = self.group(
            [("record_cycle", (bot, orders, fills, positions, decision, equity))]
        )[0]
        return flags

    # ------------------------------------------------------------------ group commit

    GROUPED = ("record_cycle", "save_risk_state")  # the writes ``group`` takes

    def group(self, calls: Sequence[tuple[str, tuple[Any, ...]]]) -> list[Any]:
        """Run several bots' ledger writes (``record_cycle`` / ``save_risk_state`` with their
        arguments, at most one per bot) in ONE transaction: all of them are committed, or none
        (the error of the failing one is raised). Returns each call's result, in order."""
        results: list[Any] = []
        notes: list[tuple[str, int, thinning.Thinned | None]] = []
        try:
            with self._transaction() as conn:
                for name, args in calls:
                    if name == "record_cycle":
                        flags, bot_id, thinned = self._record_cycle(conn, *args)
                        results.append(flags)
                    elif name == "save_risk_state":
                        bot_id, thinned = self._save_risk_state(conn, *args)
                        results.append(None)
                    else:
                        raise ValueError(f"{name} is not a grouped write")
                    notes.append((args[0], bot_id, thinned))
        except sa_exc.IntegrityError as e:
            if [name for name, _ in calls] != ["record_cycle"]:
                raise  # a group is retried call by call (Store): each gets its own error
            bot = calls[0][1][0]
            raise StorageError(
                f"cannot record the cycle of bot {bot!r}: {e.orig} (a fill needs its order "
                "saved before or in the same call)"
            ) from e
        for bot, bot_id, thinned in notes:  # after the commit only
            self._bot_ids[bot] = bot_id
            self._note_thinned(bot_id, thinned)
        return results

    def _save_risk_state(
        self, conn: Connection, bot: str, state: RiskState, equity: Sequence[EquityPoint]
    ) -> tuple[int, thinning.Thinned | None]:
        bot_id = self._bot_id(conn, bot)
        self._fence(conn, bot, bot_id)
        thinned = self._add_equity(conn, bot_id, equity)
        self._put_risk(conn, bot_id, bot, state, now_ms())
        return bot_id, thinned

    def _record_cycle(
        self,
        conn: Connection,
        bot: str,
        orders: Sequence[Order],
        fills: Sequence[Fill],
        positions: Mapping[str, Position | None],
        decision: DecisionRecord | None,
        equity: Sequence[EquityPoint],
    ) -> tuple[list[bool], int, thinning.Thinned | None]:
        flags: list[bool] = []
        bot_id = self._bot_id(conn, bot)
        self._fence(conn, bot, bot_id)
        run = _statement if self._fast else _core_statement
        if orders:
            run("order").run(conn, [self._order_row(o, bot_id) for o in orders])
        for fill in fills:
            flags.append(run("fill").run(conn, [convert.fill_to_row(fill, bot_id)]) == 1)
        for symbol, pos in positions.items():
            if pos is None:
                run("flat").run(conn, [{"bot_id": bot_id, "symbol": symbol}])
            else:
                row = convert.position_to_row(pos, bot_id, bot)
                run("position").run(conn, [row])
        if decision is not None:
            row = convert.decision_to_row(decision, bot_id)
            run("decision").run(conn, [row])
        thinned = self._add_equity(conn, bot_id, equity)
        return flags, bot_id, thinned

    def save_order(self, order: Order) -> None:
        upsert = UPSERT_ORDER if self._fast else _core_statement("order").stmt
        with self._transaction() as conn:
            bot_id = self._bot_id(conn, order.bot)
            self._fence(conn, order.bot, bot_id)
            conn.execute(upsert, self._order_row(order, bot_id))


@functools.cache
def _statement(name: str) -> Compiled:
    """The cycle's statements, compiled on first use (storage/compiled.py)."""
    match name:
        case "order":
            return Compiled(UPSERT_ORDER, orders, convert.ORDER_KEYS)
        case "fill":
            return Compiled(INSERT_FILL, fills, convert.FILL_KEYS)
        case "position":
            return Compiled(UPSERT_POSITION, schema.positions, convert.POSITION_KEYS)
        case "decision":
            return Compiled(insert(decisions), decisions, convert.DECISION_KEYS)
        case "flat":
            table = schema.positions
            stmt = delete(table).where(
                table.c.bot_id == bindparam("bot_id"), table.c.symbol == bindparam("symbol")
            )
            return Compiled(stmt, table, ("bot_id", "symbol"))
    raise ValueError(f"no statement {name!r}")


class CoreStatement:
    """A cycle statement run through SQLAlchemy Core (PostgreSQL): the same ``run`` as
    ``Compiled``, the rows changed (a fill's insert says whether it was new by RETURNING)."""

    def __init__(self, stmt: Any, returns: bool = False) -> None:
        self.stmt = stmt
        self._returns = returns

    def run(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        if self._returns:
            return sum(len(conn.execute(self.stmt, dict(row)).all()) for row in rows)
        result = conn.execute(self.stmt, [dict(r) for r in rows] if len(rows) > 1 else rows[0])
        return int(result.rowcount)


@functools.cache
def _core_statement(name: str) -> CoreStatement:
    """The cycle's statements for PostgreSQL (its own ON CONFLICT clauses)."""
    match name:
        case "order":
            return CoreStatement(_upsert_order_of(pg_insert))
        case "fill":
            new = pg_insert(fills).on_conflict_do_nothing(index_elements=[fills.c.fill_id])
            return CoreStatement(new.returning(fills.c.seq), returns=True)
        case "position":
            return CoreStatement(_upsert_position_of(pg_insert))
        case "decision":
            return CoreStatement(insert(decisions))
        case "flat":
            table = schema.positions
            stmt = delete(table).where(
                table.c.bot_id == bindparam("bot_id"), table.c.symbol == bindparam("symbol")
            )
            return CoreStatement(stmt)
    raise ValueError(f"no statement {name!r}")


def check_owner(bot: str, items: Sequence[Any]) -> None:
    """ValueError when a row of another bot slipped into ``bot``'s cycle."""
    for item in items:
        if item.bot != bot:
            raise ValueError(
                f"record_cycle({bot!r}) was given a {type(item).__name__} of bot {item.bot!r}"
            )
