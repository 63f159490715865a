"""Alembic's environment: oxbot runs it only from code (storage/migrations.py), on a connection
it opened and a transaction it began (``config.attributes["connection"]``), so every pending
revision is applied in that ONE transaction, or none (DDL is transactional on both backends).

Imported outside a migration (a test importing every module of storage/), alembic's ``context``
has no configuration yet: nothing runs then."""

from __future__ import annotations

from typing import Any

from alembic import context


def _config() -> Any:
    try:
        return context.config
    except (AttributeError, NameError):  # not run by alembic: its proxy is not set up
        return None


def run(config: Any) -> None:
    connection = config.attributes["connection"]
    context.configure(connection=connection, target_metadata=None, transaction_per_migration=False)
    with context.begin_transaction():
        context.run_migrations()


if (_cfg := _config()) is not None:
    run(_cfg)
