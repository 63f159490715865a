"""`oxbot run --headless`."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the engine (use --headless on servers, in tmux)")
    p.add_argument(
        "--headless",
        action="store_true",
        help="engine only, plain log lines; attach a cockpit with `oxbot attach`",
    )
    p.add_argument("--log-format", choices=("plain", "json"), default="plain")
    p.add_argument(
        "--status-every",
        type=float,
        default=None,
        metavar="MINUTES",
        help="status summary interval (default: settings, 5)",
    )
    p.add_argument(
        "--sim-speed",
        default=None,
        metavar="X",
        help="sim market speed: 'max', 1 = real time, N = N x (default 30)",
    )
    p.add_argument(
        "--no-resume",
        action="store_true",
        help="do not restart the bots that were running when the engine stopped",
    )
    p.add_argument(
        "--engine-name",
        default=None,
        metavar="NAME",
        help="this engine's name among the engines of one PostgreSQL database (default: host)",
    )
    p.add_argument(
        "--lease-ttl",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long a crashed engine's bots wait before another engine takes them over "
        "(PostgreSQL; default 30)",
    )
    p.set_defaults(handler=run)


def sim_speed(speed: str | None) -> float | None:
    """--sim-speed as SimConfig's speed (None: as fast as possible); UsageError if bad."""
    from oxbot.engine.errors import UsageError  # noqa: PLC0415

    if speed is None:
        return 30.0
    if speed == "max":
        return None
    try:
        value = float(speed)
        if value <= 0:
            raise ValueError
    except ValueError:
        raise UsageError(f"--sim-speed {speed!r}: use 'max' or a positive number") from None
    return value


def sim_config(speed: str | None, **kw: object):  # type: ignore[no-untyped-def]
    from oxbot.engine.market.sim import SimConfig  # noqa: PLC0415

    return SimConfig(speed=sim_speed(speed), **kw)  # type: ignore[arg-type]


def run(args: argparse.Namespace) -> int:
    import asyncio  # noqa: PLC0415

    from oxbot.engine.errors import UsageError  # noqa: PLC0415

    if not args.headless:
        raise UsageError("`oxbot run` needs --headless (plain `oxbot` opens the cockpit)")
    if args.status_every is not None and not args.status_every > 0:  # also refuses nan
        raise UsageError(
            f"--status-every must be > 0 minutes, got {args.status_every:g}; e.g. --status-every 5"
        )
    if not 1 <= args.lease_ttl <= 3600:  # also refuses nan and inf (adversary F12)
        raise UsageError(
            f"--lease-ttl must be 1 to 3600 seconds (a crashed engine's bots wait that long "
            f"for another engine), got {args.lease_ttl:g}"
        )
    from oxbot.remote.paths import own_socket  # noqa: PLC0415
    from oxbot.storage.paths import resolve_db_path, runtime_dir  # noqa: PLC0415

    db = resolve_db_path(args.db)
    sock = own_socket(db.resolve(), runtime_dir(), args.engine_name)  # PostgreSQL: per engine
    refuse_a_namesake(db, sock, args.engine_name)
    from oxbot.app.headless import serve  # noqa: PLC0415
    from oxbot.app.logs import setup_logging  # noqa: PLC0415
    from oxbot.app.runtime import RuntimeOptions, alert_options, exchange_options  # noqa: PLC0415
    from oxbot.storage.settings import load_settings  # noqa: PLC0415

    setup_logging(args.log_format)
    settings, warnings = load_settings()
    import logging  # noqa: PLC0415

    for w in warnings:
        logging.getLogger("oxbot").warning(w)
    opts = RuntimeOptions(
        db_path=db,
        sim=sim_config(args.sim_speed),
        resume=settings.resume_bots and not args.no_resume,
        demo=args.demo,  # (a snapshot each second feeds attached cockpits)
        price_table=dict(settings.llm_prices) if settings.llm_prices else {},
        **exchange_options(),
        **alert_options(),
        engine_name=args.engine_name,
        lease_ttl_s=args.lease_ttl,
    )
    every = args.status_every if args.status_every is not None else settings.status_every_min
    return asyncio.run(serve(opts, max(every, 0.01) * 60, sock))


def refuse_a_namesake(db: Any, sock: Any, name: str | None) -> None:
    """A PostgreSQL database: an engine of the same name answering on this host is refused
    before this one registers or claims anything (a file's lock refuses a second engine)."""
    from oxbot.engine.errors import OxbotError  # noqa: PLC0415
    from oxbot.remote.paths import answers, is_shared  # noqa: PLC0415

    if is_shared(db) and answers(sock):
        import socket  # noqa: PLC0415

        raise OxbotError(
            f"an engine named {name or socket.gethostname()} already runs on this database on "
            f"this host (socket {sock}); stop it (`oxbot stop --engine NAME`) or give this one "
            "another --engine-name"
        )
