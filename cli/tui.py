"""Plain `oxbot` (the cockpit) and `oxbot attach`.

With a headless engine already running on the same database, the cockpit attaches to it over the
control socket; otherwise it hosts the engine in-process on its own thread.
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("attach", help="open the cockpit on a running headless engine")
    p.set_defaults(handler=run_attach)


def _paths(args: argparse.Namespace) -> tuple[Any, Any]:
    from oxbot.remote.server import socket_path_for  # noqa: PLC0415
    from oxbot.storage.paths import resolve_db_path, runtime_dir  # noqa: PLC0415

    db = resolve_db_path(args.db)
    return db, socket_path_for(db.resolve(), runtime_dir())


def _settings() -> tuple[Any, list[str]]:
    """The settings and their warnings: printed here (they stay in the terminal's scrollback)
    and shown again as notices in the cockpit, which covers the screen."""
    from oxbot.storage.settings import load_settings  # noqa: PLC0415

    settings, warnings = load_settings()
    for w in warnings:
        print(f"oxbot: {w}", file=sys.stderr)
    return settings, warnings


def _need_terminal() -> None:
    """The cockpit draws on a terminal and reads keys from it. Piped into `head` or a file it
    used to spin on a closed pipe, deaf to ctrl+c and SIGTERM."""
    from oxbot.engine.errors import OxbotError  # noqa: PLC0415

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        which = "output" if sys.stdin.isatty() else "input"
        raise OxbotError(
            f"the cockpit needs a terminal, and standard {which} is not one (a pipe or a "
            "file). In scripts use `oxbot status`, `oxbot bots list --json`, or run the engine "
            "with `oxbot run --headless`"
        )


def run_attach(args: argparse.Namespace) -> int:
    from oxbot.engine.errors import OxbotError  # noqa: PLC0415
    from oxbot.remote.client import SocketClient, engine_running  # noqa: PLC0415

    _need_terminal()
    db, sock = _paths(args)
    if not engine_running(sock):
        raise OxbotError(
            f"no oxbot engine is running for {db}; start one with "
            "`oxbot run --headless` (or run plain `oxbot`)"
        )
    return _run(SocketClient(sock, db=db), *_settings())


def run_tui(args: argparse.Namespace) -> int:
    from oxbot.remote.client import SocketClient, engine_running  # noqa: PLC0415

    _need_terminal()
    db, sock = _paths(args)
    settings, notices = _settings()
    if engine_running(sock):
        print(f"oxbot: attaching to the engine already running on {db}", file=sys.stderr)
        return _run(SocketClient(sock, db=db), settings, notices)

    from oxbot.app.inprocess import InProcessClient  # noqa: PLC0415
    from oxbot.app.runtime import RuntimeOptions, alert_options, build_engine, exchange_options  # noqa: PLC0415
    from oxbot.cli.run import sim_config  # noqa: PLC0415

    opts = RuntimeOptions(
        db_path=db,
        sim=sim_config(getattr(args, "sim_speed", None)),
        resume=settings.resume_bots,
        demo=args.demo,
        offer_demo=not db.exists(),
        price_table=dict(settings.llm_prices) if settings.llm_prices else {},
        **exchange_options(),
        **alert_options(),
    )
    client = InProcessClient(lambda: build_engine(opts, control_socket=sock))
    client.open()  # a locked or newer database fails here, with its message, before any UI
    return _run(client, settings, notices)


def _run(client: Any, settings: Any, notices: list[str] | None = None) -> int:
    from oxbot.tui.app import OxbotApp, run_app  # noqa: PLC0415

    app_holder: dict[str, OxbotApp] = {}

    def on_term(_sig: int, _frame: Any) -> None:
        app = app_holder.get("app")
        if app is not None:
            app.exit()

    old = signal.signal(signal.SIGTERM, on_term)
    try:
        return run_app(client, settings, app_holder=app_holder, notices=notices)
    finally:
        signal.signal(signal.SIGTERM, old)
        client.stop()
