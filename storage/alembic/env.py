"""Alembic's environment: oxbot runs it only from code (storage/migrations.py), on a connection
it opened and a transaction it began (``config.attributes["connection"]``), so every pending
revision is applied in that ONE transaction, or none (DDL is transactional on both backends)."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None, transaction_per_migration=False)
with context.begin_transaction():
    context.run_migrations()
