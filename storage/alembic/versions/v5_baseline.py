"""Baseline: schema version 5, the schema oxbot had when migrations moved to alembic.

On SQLite the hand-written migrations 1-5 of storage/migrations.py built it; a SQLite database
at version 5 is stamped with this revision (nothing to run). On PostgreSQL this revision
creates it, from the frozen DDL below: PostgreSQL's types for the same models (money as
NUMERIC without precision, so exact; ids and ms times as BIGINT, a 32-bit INTEGER overflows).

Revision ID: v5
Revises:
"""

from __future__ import annotations

import time

from alembic import op

revision = "v5"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA_VERSION = 5

POSTGRESQL = (
    """CREATE TABLE schema_version (
        id BIGINT NOT NULL PRIMARY KEY CHECK (id = 1),
        version BIGINT NOT NULL,
        updated_ts BIGINT NOT NULL)""",
    """CREATE TABLE bots (
        id BIGSERIAL NOT NULL PRIMARY KEY,
        name TEXT NOT NULL,
        config TEXT NOT NULL,
        status VARCHAR(16) NOT NULL,
        created_ts BIGINT NOT NULL,
        updated_ts BIGINT NOT NULL,
        deleted BOOLEAN DEFAULT false NOT NULL)""",
    "CREATE UNIQUE INDEX ux_bots_live_name ON bots (name) WHERE NOT deleted",
    """CREATE TABLE market_marks (
        stream TEXT NOT NULL PRIMARY KEY,
        ts BIGINT NOT NULL,
        close NUMERIC NOT NULL)""",
    """CREATE TABLE orders (
        client_order_id TEXT NOT NULL PRIMARY KEY,
        bot_id BIGINT NOT NULL REFERENCES bots (id),
        bot TEXT NOT NULL,
        symbol TEXT NOT NULL,
        side VARCHAR(8) NOT NULL,
        qty NUMERIC NOT NULL,
        reason VARCHAR(16) NOT NULL,
        status VARCHAR(16) NOT NULL,
        ts BIGINT NOT NULL,
        exchange_order_id TEXT,
        stop_loss NUMERIC,
        take_profit NUMERIC)""",
    "CREATE INDEX ix_orders_bot_ts ON orders (bot_id, ts)",
    "CREATE INDEX ix_orders_status ON orders (status)",
    """CREATE TABLE fills (
        seq BIGSERIAL NOT NULL PRIMARY KEY,
        fill_id TEXT NOT NULL UNIQUE,
        client_order_id TEXT NOT NULL REFERENCES orders (client_order_id),
        bot_id BIGINT NOT NULL REFERENCES bots (id),
        bot TEXT NOT NULL,
        symbol TEXT NOT NULL,
        side VARCHAR(8) NOT NULL,
        qty NUMERIC NOT NULL,
        price NUMERIC NOT NULL,
        fee NUMERIC NOT NULL,
        ts BIGINT NOT NULL,
        reason VARCHAR(16) NOT NULL,
        realised NUMERIC,
        fee_currency TEXT DEFAULT '' NOT NULL,
        fee_cost NUMERIC)""",
    "CREATE INDEX ix_fills_bot_ts ON fills (bot_id, ts, seq)",
    "CREATE INDEX ix_fills_order ON fills (client_order_id)",
    """CREATE TABLE positions (
        bot_id BIGINT NOT NULL REFERENCES bots (id),
        symbol TEXT NOT NULL,
        bot TEXT NOT NULL,
        side VARCHAR(8) DEFAULT 'long' NOT NULL,
        qty NUMERIC NOT NULL,
        avg_entry NUMERIC NOT NULL,
        stop_loss NUMERIC,
        take_profit NUMERIC,
        opened_ts BIGINT NOT NULL,
        PRIMARY KEY (bot_id, symbol))""",
    """CREATE TABLE decisions (
        id BIGSERIAL NOT NULL PRIMARY KEY,
        bot_id BIGINT NOT NULL REFERENCES bots (id),
        bot TEXT NOT NULL,
        ts BIGINT NOT NULL,
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
        tokens_in BIGINT NOT NULL,
        tokens_out BIGINT NOT NULL,
        cost NUMERIC NOT NULL,
        latency_ms BIGINT NOT NULL,
        created_ms BIGINT DEFAULT 0 NOT NULL,
        flags TEXT DEFAULT '' NOT NULL)""",
    "CREATE INDEX ix_decisions_bot_ts ON decisions (bot_id, ts)",
    """CREATE TABLE equity_points (
        id BIGSERIAL NOT NULL PRIMARY KEY,
        bot_id BIGINT NOT NULL REFERENCES bots (id),
        bot TEXT NOT NULL,
        ts BIGINT NOT NULL,
        equity NUMERIC NOT NULL,
        cash NUMERIC NOT NULL)""",
    "CREATE INDEX ix_equity_points_bot_ts ON equity_points (bot_id, ts)",
    """CREATE TABLE risk_state (
        bot_id BIGINT NOT NULL PRIMARY KEY REFERENCES bots (id),
        bot TEXT NOT NULL,
        peak_equity NUMERIC,
        day BIGINT,
        day_start_equity NUMERIC,
        updated_ts BIGINT NOT NULL)""",
    """CREATE TABLE capital_flows (
        id BIGSERIAL NOT NULL PRIMARY KEY,
        bot_id BIGINT NOT NULL REFERENCES bots (id),
        bot TEXT NOT NULL,
        ts BIGINT NOT NULL,
        amount NUMERIC NOT NULL,
        capital NUMERIC NOT NULL,
        equity_before NUMERIC NOT NULL,
        created_ms BIGINT NOT NULL)""",
    "CREATE INDEX ix_capital_flows_bot_ts ON capital_flows (bot_id, ts)",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite: built by storage/migrations.py's migrations 1-5, then stamped
    for statement in POSTGRESQL:
        op.execute(statement)
    op.execute(
        "INSERT INTO schema_version (id, version, updated_ts) "
        f"VALUES (1, {SCHEMA_VERSION}, {int(time.time() * 1000)})"
    )
