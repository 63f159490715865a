"""`oxbot db migrate --from SRC --to DST` and `oxbot db checksum DB`: copy a whole ledger into a
new database and prove the copy exact (rows per table and a checksum, before and after), or
print what one database holds. The source is opened read-only; a target that already holds a
ledger is refused; a copy that would differ is rolled back (storage/copy.py)."""

from __future__ import annotations

import argparse
import json

URL_HELP = "a database file path, sqlite:///PATH or postgresql+asyncpg://USER@HOST[:PORT]/DB"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("db", help="copy a ledger to another database, or checksum one")
    dbsub = p.add_subparsers(dest="db_command", metavar="{migrate,checksum}")
    dbsub.required = True
    m = dbsub.add_parser(
        "migrate",
        help="copy every bot, order, fill, position, decision and equity point to a new database",
        description="Copy the whole ledger of --from into --to (a new file, or an empty "
        "database) in one transaction, then read it back: the row count of every table and a "
        "checksum over every row must equal the source's, or nothing is written. The source is "
        "only read. Stop the engine that uses --from first, so the copy is of a still ledger.",
        epilog="exit codes: 0 copied and verified, 1 refused or failed (nothing written), "
        "2 usage error",
    )
    m.add_argument("--from", dest="src", required=True, metavar="SRC", help=URL_HELP)
    m.add_argument("--to", dest="dst", required=True, metavar="DST", help=URL_HELP)
    m.add_argument("--json", action="store_true", help="print one JSON object (for scripts)")
    m.set_defaults(handler=cmd_migrate)
    c = dbsub.add_parser("checksum", help="rows per table and the ledger checksum of a database")
    c.add_argument("where", metavar="DB", help=URL_HELP)
    c.add_argument("--json", action="store_true", help="print one JSON object (for scripts)")
    c.set_defaults(handler=cmd_checksum)


def cmd_migrate(args: argparse.Namespace) -> int:
    import asyncio  # noqa: PLC0415 - `oxbot --help` loads no asyncio

    from oxbot.app import dbcopy  # noqa: PLC0415

    done = asyncio.run(dbcopy.migrate(args.src, args.dst))
    src, dst = dbcopy.parse_where(args.src), dbcopy.parse_where(args.dst)
    if args.json:
        print(
            json.dumps(
                {
                    "from": src.shown(),
                    "to": dst.shown(),
                    "rows": done.before.counts,
                    "checksum_before": done.before.checksum,
                    "checksum_after": done.after.checksum,
                    "exact": done.before == done.after,
                },
                indent=2,
            )
        )
        return 0
    rows = sum(done.before.counts.values())
    print(f"copied {rows:,} rows from {src.shown()} to {dst.shown()}")
    print(f"{'table':<14} {'rows':>9}")
    print("\n".join(done.before.lines()))
    print(f"checksum before {done.before.checksum}")
    print(f"checksum after  {done.after.checksum}")
    print("the copy is exact: same rows in every table, same checksum")
    return 0


def cmd_checksum(args: argparse.Namespace) -> int:
    import asyncio  # noqa: PLC0415

    from oxbot.app import dbcopy  # noqa: PLC0415

    got = asyncio.run(dbcopy.checksum(args.where))
    if args.json:
        print(json.dumps({"rows": got.counts, "checksum": got.checksum}, indent=2))
        return 0
    print(f"{'table':<14} {'rows':>9}")
    print("\n".join(got.lines()))
    print(f"checksum {got.checksum}")
    return 0
