"""`oxbot db migrate --from SQLITE --to POSTGRESQL`: copy a whole ledger into an empty
PostgreSQL database (storage/copy.py), and prove it: row counts and a ledger checksum of the
source before and of the target after. Exit 0 when they match, 1 when not (or refused)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("db", help="database tools: copy a SQLite ledger into PostgreSQL")
    dbsub = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    m = dbsub.add_parser(
        "migrate",
        help="copy a ledger into an empty PostgreSQL database",
        description="Copy every bot, order, fill, position, decision, equity point, kill-switch "
        "state and capital flow of the SQLite database FROM into the empty PostgreSQL database "
        "TO, in one transaction, ids kept; then compare row counts and a checksum of the whole "
        "ledger, read back from TO. FROM is left untouched. Stop the engine using FROM first.",
        epilog="exit codes: 0 copied and identical, 1 refused or different, 2 usage error",
    )
    m.add_argument("--from", dest="source", required=True, metavar="sqlite:///PATH")
    m.add_argument("--to", dest="target", required=True, metavar="postgresql+asyncpg://...")
    m.set_defaults(handler=run_migrate)


def _source(value: str) -> str:
    from pathlib import Path  # noqa: PLC0415

    from oxbot.engine.errors import UsageError  # noqa: PLC0415

    path = value.removeprefix("sqlite:///") if value.startswith("sqlite:///") else value
    if "://" in path:
        raise UsageError(f"--from takes a SQLite file (sqlite:///PATH or PATH), not {value}")
    if not Path(path).expanduser().is_file():
        raise UsageError(f"--from {path}: no such database file")
    return str(Path(path).expanduser())


def run_migrate(args: argparse.Namespace) -> int:
    import asyncio  # noqa: PLC0415 - building the parser loads nothing it does not need

    from oxbot.engine.errors import UsageError  # noqa: PLC0415
    from oxbot.storage.copy import copy_ledger  # noqa: PLC0415
    from oxbot.storage.pg import PgUrl, is_url  # noqa: PLC0415

    source = _source(args.source)
    if not is_url(args.target):
        raise UsageError("--to takes a PostgreSQL URL: postgresql+asyncpg://USER@HOST:PORT/DBNAME")
    target = str(PgUrl.parse(args.target))
    before, after = asyncio.run(copy_ledger(source, target))
    width = max(len(t) for t in before.counts)
    print(f"{'table':<{width}}  {'source':>8}  {'target':>8}")
    for table, n in before.counts.items():
        print(f"{table:<{width}}  {n:>8}  {after.counts.get(table, 0):>8}")
    print(f"checksum source {before.checksum}")
    print(f"checksum target {after.checksum}")
    if before != after:
        print("oxbot: the copy differs from the source; do not use it")
        return 1
    print(f"copied {sum(before.counts.values())} rows from {source} to {target}: identical")
    return 0
