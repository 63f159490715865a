"""Alembic's environment, for alembic's own commands run on a connection the caller opened and
began (``config.attributes["connection"]``): every pending revision in that ONE transaction, or
none (DDL is transactional on both backends). oxbot itself applies its revisions the same way
from code (storage/pg.py ``alembic_upgrade``, revisions loaded once per process).

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
