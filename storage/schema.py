"""The tables, as typed SQLAlchemy models. The Store runs Core statements on ``Model.__table__``
(no ORM sessions, so no lazy loading can ever happen in async code).

This describes the LATEST schema. The DDL that creates it lives, frozen, in migrations.py;
tests/storage/test_storage_schema.py proves both agree.

Ledger rows carry ``bot_id`` (the bots row) as well as the bot's name: a soft-deleted bot keeps
its history under its own id, so a new bot that reuses the name starts with an empty ledger.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, Numeric, String, Table, Text, text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

# Integers (ids, ms times, token counts): SQLite's INTEGER is 64-bit; PostgreSQL's is 32-bit,
# too small for a time in ms, so there they are BIGINT (an integer key becomes BIGSERIAL).
Int: TypeEngine[int] = Integer().with_variant(BigInteger(), "postgresql")


class ExactDecimal(TypeDecorator[Decimal]):
    """A Decimal stored exactly, a float refused, never rounded: on SQLite as its exact text
    (``str(Decimal)``), on PostgreSQL as NUMERIC without precision or scale (any number of
    digits, kept exactly, per the PostgreSQL docs "Arbitrary Precision Numbers")."""

    impl = Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(asdecimal=True))
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | Decimal | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, Decimal | int):
            raise TypeError(
                f"money and quantities must be Decimal, got {type(value).__name__} {value!r}"
            )
        value = Decimal(value)
        if not value.is_finite():
            raise ValueError(f"cannot store a non-finite amount ({value})")
        return value if dialect.name == "postgresql" else str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


class Base(DeclarativeBase):
    pass


class BotRow(Base):
    __tablename__ = "bots"

    id: Mapped[int] = mapped_column(Int, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    config: Mapped[str] = mapped_column(Text)  # BotConfig.model_dump(mode="json") as JSON
    status: Mapped[str] = mapped_column(String(16))
    created_ts: Mapped[int] = mapped_column(Int)
    updated_ts: Mapped[int] = mapped_column(Int)
    deleted: Mapped[bool] = mapped_column(default=False, server_default=text("0"))

    __table_args__ = (
        # A name is unique among live bots only: a deleted bot's name can be reused.
        Index(
            "ux_bots_live_name",
            "name",
            unique=True,
            sqlite_where=text("deleted = 0"),
            postgresql_where=text("NOT deleted"),
        ),
    )


class OrderRow(Base):
    __tablename__ = "orders"

    client_order_id: Mapped[str] = mapped_column(Text, primary_key=True)
    bot_id: Mapped[int] = mapped_column(ForeignKey("bots.id"))
    bot: Mapped[str] = mapped_column(Text)
    symbol: Mapped[str] = mapped_column(Text)
    side: Mapped[str] = mapped_column(String(8))
    qty: Mapped[Decimal] = mapped_column(ExactDecimal)
    reason: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    ts: Mapped[int] = mapped_column(Int)
    exchange_order_id: Mapped[str | None] = mapped_column(Text)
    stop_loss: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    take_profit: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    # the engine that wrote the order intent (v6; NULL before, and on SQLite's fast path)
    engine_id: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        Index("ix_orders_bot_ts", "bot_id", "ts"),
        Index("ix_orders_status", "status"),
    )


class FillRow(Base):
    __tablename__ = "fills"

    # An integer key keeps insertion order stable (VACUUM may renumber the rowid of tables
    # without one); fill_id is the idempotency key.
    seq: Mapped[int] = mapped_column(Int, primary_key=True)
    fill_id: Mapped[str] = mapped_column(Text, unique=True)
    client_order_id: Mapped[str] = mapped_column(ForeignKey("orders.client_order_id"))
    bot_id: Mapped[int] = mapped_column(ForeignKey("bots.id"))
    bot: Mapped[str] = mapped_column(Text)
    symbol: Mapped[str] = mapped_column(Text)
    side: Mapped[str] = mapped_column(String(8))
    qty: Mapped[Decimal] = mapped_column(ExactDecimal)
    price: Mapped[Decimal] = mapped_column(ExactDecimal)
    fee: Mapped[Decimal] = mapped_column(ExactDecimal)
    ts: Mapped[int] = mapped_column(Int)
    reason: Mapped[str] = mapped_column(String(16))
    realised: Mapped[Decimal | None] = mapped_column(ExactDecimal, nullable=True)  # v4
    fee_currency: Mapped[str] = mapped_column(Text, server_default=text("''"))  # v5
    fee_cost: Mapped[Decimal | None] = mapped_column(ExactDecimal, nullable=True)  # v5

    __table_args__ = (
        Index("ix_fills_bot_ts", "bot_id", "ts", "seq"),
        Index("ix_fills_order", "client_order_id"),
    )


class PositionRow(Base):
    __tablename__ = "positions"

    bot_id: Mapped[int] = mapped_column(ForeignKey("bots.id"), primary_key=True)
    symbol: Mapped[str] = mapped_column(Text, primary_key=True)
    bot: Mapped[str] = mapped_column(Text)
    side: Mapped[str] = mapped_column(String(8), server_default=text("'long'"))
    qty: Mapped[Decimal] = mapped_column(ExactDecimal)
    avg_entry: Mapped[Decimal] = mapped_column(ExactDecimal)
    stop_loss: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    take_profit: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    opened_ts: Mapped[int] = mapped_column(Int)


class DecisionRow(Base):
    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(Int, primary_key=True)
    bot_id: Mapped[int] = mapped_column(ForeignKey("bots.id"))
    bot: Mapped[str] = mapped_column(Text)
    ts: Mapped[int] = mapped_column(Int)
    source: Mapped[str] = mapped_column(Text)
    actions: Mapped[str] = mapped_column(Text)
    reasoning: Mapped[str] = mapped_column(Text)
    verdict: Mapped[str] = mapped_column(Text)
    verdict_reasons: Mapped[str] = mapped_column(Text)
    order_ids: Mapped[str] = mapped_column(Text)
    provider: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(Text)
    prompt_hash: Mapped[str] = mapped_column(Text)
    prompt: Mapped[str] = mapped_column(Text)
    raw_reply: Mapped[str] = mapped_column(Text)
    parsed: Mapped[str] = mapped_column(Text)
    error: Mapped[str] = mapped_column(Text)
    tokens_in: Mapped[int] = mapped_column(Int)
    tokens_out: Mapped[int] = mapped_column(Int)
    cost: Mapped[Decimal] = mapped_column(ExactDecimal)
    latency_ms: Mapped[int] = mapped_column(Int)
    created_ms: Mapped[int] = mapped_column(Int, server_default="0")
    flags: Mapped[str] = mapped_column(Text, server_default="")

    __table_args__ = (Index("ix_decisions_bot_ts", "bot_id", "ts"),)


class EquityPointRow(Base):
    __tablename__ = "equity_points"

    id: Mapped[int] = mapped_column(Int, primary_key=True)
    bot_id: Mapped[int] = mapped_column(ForeignKey("bots.id"))
    bot: Mapped[str] = mapped_column(Text)
    ts: Mapped[int] = mapped_column(Int)
    equity: Mapped[Decimal] = mapped_column(ExactDecimal)
    cash: Mapped[Decimal] = mapped_column(ExactDecimal)

    __table_args__ = (Index("ix_equity_points_bot_ts", "bot_id", "ts"),)


class SchemaVersionRow(Base):
    __tablename__ = "schema_version"

    id: Mapped[int] = mapped_column(Int, primary_key=True)  # always 1: a single row
    version: Mapped[int] = mapped_column(Int)
    updated_ts: Mapped[int] = mapped_column(Int)


class MarketMarkRow(Base):
    """The last closed candle of each sim stream: a restart continues the price path there."""

    __tablename__ = "market_marks"

    stream: Mapped[str] = mapped_column(Text, primary_key=True)
    ts: Mapped[int] = mapped_column(Int)
    close: Mapped[Decimal] = mapped_column(ExactDecimal)


class RiskStateRow(Base):
    """What a bot's kill switches remember (engine.models.RiskState); v5."""

    __tablename__ = "risk_state"

    bot_id: Mapped[int] = mapped_column(ForeignKey("bots.id"), primary_key=True)
    bot: Mapped[str] = mapped_column(Text)
    peak_equity: Mapped[Decimal | None] = mapped_column(ExactDecimal, nullable=True)
    day: Mapped[int | None] = mapped_column(Int, nullable=True)
    day_start_equity: Mapped[Decimal | None] = mapped_column(ExactDecimal, nullable=True)
    updated_ts: Mapped[int] = mapped_column(Int)


class CapitalFlowRow(Base):
    """A deposit (amount > 0) or withdrawal (< 0) of a bot (engine.models.CapitalFlow); v5."""

    __tablename__ = "capital_flows"

    id: Mapped[int] = mapped_column(Int, primary_key=True)
    bot_id: Mapped[int] = mapped_column(ForeignKey("bots.id"))
    bot: Mapped[str] = mapped_column(Text)
    ts: Mapped[int] = mapped_column(Int)
    amount: Mapped[Decimal] = mapped_column(ExactDecimal)
    capital: Mapped[Decimal] = mapped_column(ExactDecimal)
    equity_before: Mapped[Decimal] = mapped_column(ExactDecimal)
    created_ms: Mapped[int] = mapped_column(Int)

    __table_args__ = (Index("ix_capital_flows_bot_ts", "bot_id", "ts"),)


class EngineRow(Base):
    """An engine writing to this database (v6): registered at start, its heartbeat renewed
    with its leases, ``stopped_ms`` set by a clean shutdown. Times are the database server's."""

    __tablename__ = "engines"

    engine_id: Mapped[str] = mapped_column(Text, primary_key=True)  # host:pid:random
    host: Mapped[str] = mapped_column(Text)
    pid: Mapped[int] = mapped_column(Int)
    name: Mapped[str] = mapped_column(Text)
    started_ms: Mapped[int] = mapped_column(Int)
    heartbeat_ms: Mapped[int] = mapped_column(Int)
    ttl_ms: Mapped[int] = mapped_column(Int)  # its leases' ttl: silent longer = not alive
    stopped_ms: Mapped[int | None] = mapped_column(Int, nullable=True)


class BotLeaseRow(Base):
    """Which engine runs a bot (v6, storage/leases.py): ``engine_id`` NULL once released;
    ``epoch`` +1 at every change of owner (the fencing token every ledger write checks);
    ``must_reconcile`` set when the lease was taken from an owner whose lease had expired."""

    __tablename__ = "bot_leases"

    bot_id: Mapped[int] = mapped_column(ForeignKey("bots.id"), primary_key=True)
    engine_id: Mapped[str | None] = mapped_column(ForeignKey("engines.engine_id"), nullable=True)
    epoch: Mapped[int] = mapped_column(Int)
    acquired_ms: Mapped[int] = mapped_column(Int)
    expires_ms: Mapped[int] = mapped_column(Int)
    must_reconcile: Mapped[bool] = mapped_column(default=False, server_default=text("0"))


bots: Table = cast(Table, BotRow.__table__)
orders: Table = cast(Table, OrderRow.__table__)
fills: Table = cast(Table, FillRow.__table__)
positions: Table = cast(Table, PositionRow.__table__)
decisions: Table = cast(Table, DecisionRow.__table__)
equity_points: Table = cast(Table, EquityPointRow.__table__)
schema_version: Table = cast(Table, SchemaVersionRow.__table__)
market_marks: Table = cast(Table, MarketMarkRow.__table__)
risk_state: Table = cast(Table, RiskStateRow.__table__)
capital_flows: Table = cast(Table, CapitalFlowRow.__table__)
engines: Table = cast(Table, EngineRow.__table__)
bot_leases: Table = cast(Table, BotLeaseRow.__table__)
