"""`oxbot status` and `oxbot stop`: talk to a headless engine through its control socket.

Cheap to import (argparse only); each handler imports the socket client when it runs. The engine
is found by database: `--db`, else $OXBOT_DB, else the default database (storage.paths), and the
socket of that database in the runtime directory ($OXBOT_HOME/run when OXBOT_HOME is set); a
PostgreSQL database has one socket per engine (remote/paths.py): `--engine NAME` picks one.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_ERROR = 0, 1
STOP_TIMEOUT_S = 10.0


def register(subparsers: Any) -> None:
    """Add the `status` and `stop` sub-commands."""
    p = subparsers.add_parser(
        "status",
        help="show the running headless engine's status",
        description="Print the summary of the headless engine running on the database: uptime, "
        "bots running, cycles, trades, equity, errors. Exit 1 if none is running.",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object (for scripts)")
    _engine_option(p)
    p.set_defaults(handler=run_status)
    p = subparsers.add_parser(
        "stop",
        help="stop the running headless engine gracefully",
        description="Ask the headless engine running on the database to stop (bots' state is "
        f"saved) and wait up to {STOP_TIMEOUT_S:g} s for it to finish.",
    )
    _engine_option(p)
    p.set_defaults(handler=run_stop)


def _engine_option(p: Any) -> None:
    p.add_argument(
        "--engine",
        metavar="NAME",
        help="a PostgreSQL database with several engines on this host: the one to talk to "
        "(its --engine-name; default $OXBOT_ENGINE, else the only one running here)",
    )


def resolve_db(args: argparse.Namespace) -> Path:
    from oxbot.storage.paths import resolve_db_path  # noqa: PLC0415

    return resolve_db_path(getattr(args, "db", None))


def engine_endpoint(args: argparse.Namespace) -> tuple[Path, Path]:
    """(database path, control socket path) of the engine the command line points at."""
    from oxbot.remote.paths import engine_socket  # noqa: PLC0415
    from oxbot.storage.paths import resolve_db_path, runtime_dir  # noqa: PLC0415

    db = resolve_db_path(getattr(args, "db", None))
    # PostgreSQL: the engine named by --engine / $OXBOT_ENGINE, else the only one on this host
    return db, engine_socket(db, runtime_dir(), getattr(args, "engine", None))


def run_status(args: argparse.Namespace) -> int:
    """`oxbot status [--json]`: the engine's summary and each bot's equity, P&L, open
    positions and last error (``bots``). Without an engine: exit 1, the bots' stored figures
    still printed (JSON: ``state`` "stopped")."""
    from oxbot.remote.client import EngineNotRunning, request_snapshot, request_status  # noqa: PLC0415
    from oxbot.remote.paths import SeveralEngines  # noqa: PLC0415

    try:
        db, sock = engine_endpoint(args)
    except SeveralEngines:  # the engines table names them; then the error says what to do
        engines = _engines(resolve_db(args))
        if engines and not args.json:
            print(format_engines(engines))
        raise
    engines = _engines(db)  # PostgreSQL: every engine of the database, here or elsewhere
    shared = {"engines": engines} if engines else {}
    try:
        summary = request_status(sock, db=db)
        snapshot = request_snapshot(sock, db=db)
    except EngineNotRunning as e:
        bots = _stored_bots(args, db)
        if args.json:  # scripts get an answer they can parse, and the exit code says the same
            stopped = {"state": "stopped", "db": str(db), "socket": str(sock), "bots": bots}
            print(json.dumps({**stopped, **shared}, sort_keys=True))
        else:
            if bots:
                print(format_bots(bots, engines))
            if engines:
                print(("\n" if bots else "") + format_engines(engines))
        alive = [x["name"] for x in engines if x["alive"]]
        if alive:  # a shared database: its engines run on other hosts (or other homes)
            print(
                f"oxbot: no engine of this database answers on this host (socket {sock}); "
                f"its running engines: {', '.join(alive)}",
                file=sys.stderr,
            )
            return EXIT_ERROR
        print(f"oxbot: {e}", file=sys.stderr)  # "no oxbot engine is running ...", exit 1
        return EXIT_ERROR
    bots = _bots_of(args, snapshot)
    if args.json:
        print(json.dumps({**summary, "bots": bots, **shared}, sort_keys=True, default=str))
    else:
        print(format_status(summary, sock))
        if bots:
            print()
            print(format_bots(bots, engines))
        if engines:
            print()
            print(format_engines(engines))
    return EXIT_OK


def _engines(db: Path) -> list[dict[str, Any]]:
    """The engines of a PostgreSQL database (storage/leases.py): name, host, pid, heartbeat
    age, alive, the bots whose lease each holds; [] for a SQLite file (one engine)."""
    from oxbot.storage.paths import DbUrl  # noqa: PLC0415

    if not isinstance(db, DbUrl):
        return []
    import asyncio  # noqa: PLC0415

    from oxbot.engine.errors import StorageError  # noqa: PLC0415
    from oxbot.storage.store import Store  # noqa: PLC0415

    async def read() -> list[dict[str, Any]]:
        async with await Store.open(db, writer=False) as store:
            return [
                {
                    "name": e.name,
                    "host": e.host,
                    "pid": e.pid,
                    "engine_id": e.engine_id,
                    # the server's clock: a heartbeat sent while it was read is "0 s", not "-0"
                    "heartbeat_age_s": round(max(e.heartbeat_age_ms, 0) / 1000, 1),
                    "alive": e.alive,
                    "stopped": e.stopped,
                    "bots": list(e.bots),
                }
                for e in await store.list_engines()
                # not every engine that ever ran: the live ones, those holding bots, and
                # those gone silent (crashed or hung) in the last hour
                if e.alive or e.bots or (not e.stopped and e.heartbeat_age_ms < 3_600_000)
            ]

    try:
        return asyncio.run(read())
    except StorageError:  # no oxbot database yet, or an older one: the rest says so
        return []


def format_engines(engines: list[dict[str, Any]]) -> str:
    from oxbot.cli.reads import table  # noqa: PLC0415

    head = ("ENGINE", "HOST", "HEARTBEAT", "STATE", "BOTS")
    rows = [
        (
            e["name"],
            e["host"],
            f"{e['heartbeat_age_s']:g} s ago",
            "alive" if e["alive"] else "stopped" if e["stopped"] else "silent",
            ", ".join(e["bots"]) or "-",
        )
        for e in engines
    ]
    return table(head, rows)


def _bots_of(args: argparse.Namespace, snapshot: Any) -> list[dict[str, Any]]:
    """Per bot: name, status, equity, pnl, realised, fees, open_positions, last_error."""
    from oxbot.cli.reads import bot_figures  # noqa: PLC0415

    return [{"name": name, **f} for name, f in bot_figures(args, snapshot).items()]


def _stored_bots(args: argparse.Namespace, db: Path) -> list[dict[str, Any]]:
    """The bots' figures from the database, or [] when there is none (status says only that
    no engine runs then)."""
    return _bots_of(args, None) if db.exists() else []


def format_bots(bots: list[dict[str, Any]], engines: Sequence[dict[str, Any]] = ()) -> str:
    """The bots table; ``engines`` (a PostgreSQL database's): a bot whose lease a live engine
    holds reads "running on NAME", whatever the stored row or this engine says."""
    from oxbot.cli.bots import status_text  # noqa: PLC0415
    from oxbot.cli.reads import table  # noqa: PLC0415

    on = {bot: e["name"] for e in engines if e["alive"] for bot in e["bots"]}
    head = ("BOT", "STATUS", "EQUITY", "P&L", "OPEN", "LAST ERROR")
    rows = [
        (
            b["name"],
            f"running on {on[b['name']]}" if b["name"] in on else status_text(b),
            b["equity"],
            b["pnl"],
            b["open_positions"],
            b["last_error"] or "-",
        )
        for b in bots
    ]
    return table(head, rows)


def run_stop(args: argparse.Namespace) -> int:
    """`oxbot stop`: graceful stop, waiting up to STOP_TIMEOUT_S."""
    from oxbot.remote.client import engine_running, request_stop  # noqa: PLC0415

    db, sock = engine_endpoint(args)
    if engine_running(sock):  # no "stopping ..." line before a "none is running" error
        print(f"stopping the oxbot engine for DB {db} ...", flush=True)
    if request_stop(sock, timeout=STOP_TIMEOUT_S, db=db):
        print("engine stopped; its bots' state is saved and they resume on the next start")
        return EXIT_OK
    print(
        f"oxbot: the engine is still stopping after {STOP_TIMEOUT_S:g} s; check its log, "
        f"then run `oxbot status` (socket {sock})",
        file=sys.stderr,
    )
    return EXIT_ERROR


_LABELS = {
    "uptime_s": "uptime",
    "bots_running": "bots running",
    "bots_total": "bots total",
    "cycles": "cycles",
    "trades": "round trips",
    "equity": "equity",
    "errors": "errors",
    "failed_decisions": "failed LLM decisions",
    "db": "db",
    "state": "",  # shown in the first row
}


def format_status(summary: dict[str, Any], sock: Path) -> str:
    """The summary as aligned `label  value` lines, known fields first."""
    rows: list[tuple[str, str]] = [("engine", str(summary.get("state", "running")))]
    for key, label in _LABELS.items():
        if key in summary and label:
            value = summary[key]
            rows.append((label, format_uptime(value) if key == "uptime_s" else str(value)))
    rows += [(key.replace("_", " "), str(v)) for key, v in summary.items() if key not in _LABELS]
    rows.append(("socket", str(sock)))
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)


def format_uptime(seconds: Any) -> str:
    """``3725`` -> ``1h 02m 05s``; non-numbers as they are."""
    try:
        total = int(float(seconds))
    except (TypeError, ValueError):
        return str(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h {minutes:02d}m"
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    return f"{minutes}m {secs:02d}s"
