"""Plain `oxbot` (the cockpit) and `oxbot attach`.

With a headless engine already running on the same database, the cockpit attaches to it over the
control socket; otherwise it hosts the engine in-process on its own thread.
"""

from __future__ import annotations

import argparse
import gc
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("attach", help="open the cockpit on a running headless engine")
    p.set_defaults(handler=run_attach)


def _paths(args: argparse.Namespace) -> tuple[Any, Any]:
    from oxbot.remote.paths import engine_socket  # noqa: PLC0415
    from oxbot.storage.paths import resolve_db_path, runtime_dir  # noqa: PLC0415

    db = resolve_db_path(args.db)
    return db, engine_socket(db.resolve(), runtime_dir())  # PostgreSQL: $OXBOT_ENGINE


def _settings() -> tuple[Any, list[str]]:
    """The settings and their warnings: printed here (they stay in the terminal's scrollback)
    and shown again as notices in the cockpit, which covers the screen. Read without pydantic
    when the file is plain (storage/settings.py ``load_ui_settings``)."""
    from oxbot.storage.settings import load_ui_settings  # noqa: PLC0415

    settings, warnings = load_ui_settings()
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
    with _gc_held():
        return _attach(args)


def run_tui(args: argparse.Namespace) -> int:
    with _gc_held():
        return _cockpit(args)


@contextmanager
def _gc_held() -> Iterator[None]:
    """No cyclic collection until the engine runs (tui/hosting.py ``EngineHost.start`` resumes
    it then, after freezing the heap; here whatever ends the command): nearly every object made
    before the first frame and in the engine's build lives as long as the process, and the
    collections scanned them for nothing: ~45 ms of the first frame's ~0.54 s CPU, ~0.15 s of
    the ~1.5 s CPU until the engine's first snapshot; the cyclic garbage of the start, about
    3,000 objects, is frozen with the rest (bench/RESULTS.md, session 25)."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _attach(args: argparse.Namespace) -> int:
    from oxbot.engine.errors import OxbotError  # noqa: PLC0415
    from oxbot.remote.client import SocketClient, engine_running  # noqa: PLC0415

    _need_terminal()
    db, sock = _paths(args)
    if not engine_running(sock):
        raise OxbotError(
            f"no oxbot engine is running for {db}; start one with "
            "`oxbot run --headless` (or run plain `oxbot`)"
        )
    return _run(SocketClient(sock, db=db), *_settings(), db=db)


def _cockpit(args: argparse.Namespace) -> int:
    from oxbot.remote.client import SocketClient, engine_running  # noqa: PLC0415

    _need_terminal()
    db, sock = _paths(args)
    settings, notices = _settings()
    if engine_running(sock):
        print(f"oxbot: attaching to the engine already running on {db}", file=sys.stderr)
        return _run(SocketClient(sock, db=db), settings, notices, db=db)

    from oxbot.app.inprocess import InProcessClient  # noqa: PLC0415
    from oxbot.cli.run import sim_speed  # noqa: PLC0415
    from oxbot.remote.paths import own_socket  # noqa: PLC0415
    from oxbot.storage.paths import runtime_dir  # noqa: PLC0415

    speed = sim_speed(getattr(args, "sim_speed", None))  # a bad value: before any UI
    offer_demo = not db.exists()
    _check_database(db)  # locked or newer: its message before any UI

    async def build() -> Any:
        """On the engine thread, once the first frame is up: the engine's imports (pandas,
        SQLAlchemy, the strategies) and its database take most of the start-up."""
        from oxbot.app.runtime import (  # noqa: PLC0415
            RuntimeOptions,
            alert_options,
            build_engine,
            exchange_options,
        )
        from oxbot.engine.market.sim import SimConfig  # noqa: PLC0415

        opts = RuntimeOptions(
            db_path=db,
            sim=SimConfig(speed=speed),
            resume=settings.resume_bots,
            demo=args.demo,
            offer_demo=offer_demo,
            price_table=dict(settings.llm_prices) if settings.llm_prices else {},
            **exchange_options(),
            **alert_options(),
        )
        # its own socket: a PostgreSQL database's carries the engine's name (the host name)
        own = own_socket(db.resolve(), runtime_dir(), None)
        return await build_engine(opts, control_socket=own)

    # The cockpit starts the engine when its dashboard is mounted; if it cannot start, the
    # cockpit closes and the error is printed on the restored terminal (fatal_start).
    client = InProcessClient(build, fatal_start=True)
    return _run(client, settings, notices, db=db)


def _check_database(db: Any) -> None:
    """What used to stop `oxbot` before any UI, checked cheaply (no SQLAlchemy): another
    engine holds the database's writer lock (DatabaseLocked), the file is newer than this
    oxbot (SchemaTooNew), not SQLite, not oxbot's or damaged (StorageError). Read-only; the
    lock is released again for the engine to take (storage/store.py ``Store.open``)."""
    from oxbot.engine.errors import SchemaTooNew, StorageError  # noqa: PLC0415
    from oxbot.storage.lock import WriterLock  # noqa: PLC0415
    from oxbot.storage.migrations import inspect_version, latest_version  # noqa: PLC0415
    from oxbot.storage.paths import DbUrl  # noqa: PLC0415

    if isinstance(db, DbUrl):  # PostgreSQL: the engine's Store.open checks it, then says
        return
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StorageError(f"cannot create the folder of {db}: {e}") from e
    with WriterLock(db):
        found, known = inspect_version(db), latest_version()
    if found > known:
        raise SchemaTooNew(
            f"{db} has schema version {found}, but this oxbot knows only up to version "
            f"{known}; upgrade oxbot to open it (nothing was written)"
        )


def _run(client: Any, settings: Any, notices: list[str] | None = None, db: Any = None) -> int:
    from oxbot.tui.app import OxbotApp, run_app  # noqa: PLC0415

    app_holder: dict[str, OxbotApp] = {}

    def on_term(_sig: int, _frame: Any) -> None:
        app = app_holder.get("app")
        if app is not None:
            app.exit()

    old = signal.signal(signal.SIGTERM, on_term)
    try:
        code = run_app(client, settings, app_holder=app_holder, notices=notices, db_path=db)
    finally:
        signal.signal(signal.SIGTERM, old)
        client.stop()
    error = getattr(client, "start_error", None)
    if error is not None:  # the engine never started: say why, as before any UI
        raise error
    return code
