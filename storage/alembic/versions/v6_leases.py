"""Several engines on one database: the engines, each bot's lease, and who wrote each order.

- ``engines``: one row per engine that opened the database for writing (storage/leases.py).
- ``bot_leases``: which engine runs a bot, until when (the database server's clock), and the
  epoch every ledger write of the bot checks (fencing).
- ``orders.engine_id``: the engine that wrote the order intent (NULL for older orders).

Runs on both backends (SQLite after the hand-written migrations 1-5 and the v5 stamp).

Revision ID: v6
Revises: v5
"""

from __future__ import annotations

from alembic import op

revision = "v6"
down_revision = "v5"
branch_labels = None
depends_on = None

POSTGRESQL = (
    """CREATE TABLE engines (
        engine_id TEXT NOT NULL PRIMARY KEY,
        host TEXT NOT NULL,
        pid BIGINT NOT NULL,
        name TEXT NOT NULL,
        started_ms BIGINT NOT NULL,
        heartbeat_ms BIGINT NOT NULL,
        ttl_ms BIGINT NOT NULL,
        stopped_ms BIGINT)""",
    """CREATE TABLE bot_leases (
        bot_id BIGINT NOT NULL PRIMARY KEY REFERENCES bots (id),
        engine_id TEXT REFERENCES engines (engine_id),
        epoch BIGINT NOT NULL,
        acquired_ms BIGINT NOT NULL,
        expires_ms BIGINT NOT NULL,
        must_reconcile BOOLEAN DEFAULT false NOT NULL)""",
    "ALTER TABLE orders ADD COLUMN engine_id TEXT",
)

SQLITE = (
    """CREATE TABLE engines (
        engine_id TEXT NOT NULL PRIMARY KEY,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        name TEXT NOT NULL,
        started_ms INTEGER NOT NULL,
        heartbeat_ms INTEGER NOT NULL,
        ttl_ms INTEGER NOT NULL,
        stopped_ms INTEGER)""",
    """CREATE TABLE bot_leases (
        bot_id INTEGER NOT NULL PRIMARY KEY REFERENCES bots (id),
        engine_id TEXT REFERENCES engines (engine_id),
        epoch INTEGER NOT NULL,
        acquired_ms INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL,
        must_reconcile BOOLEAN DEFAULT 0 NOT NULL)""",
    "ALTER TABLE orders ADD COLUMN engine_id TEXT",
)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRESQL if postgres else SQLITE:
        op.execute(statement)
