"""`oxbot bots pause|resume|flatten|edit NAME` and `oxbot panic --yes`: write commands.

With an engine running on the database they go through its control socket (the engine is the
ledger's one writer: storage/lock.py). Without one, pause, resume and edit change the stored bot
(nothing trades, so that is safe) and say so; flatten and PANIC refuse, since closing positions
needs a market to trade on.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from typing import Any

from oxbot.cli import bots as cli_bots

EXIT_CODES = "exit codes: 0 done, 1 failed or refused at run time, 2 usage error"
EDIT_WAIT_S = 60.0  # how long an edit waits for another one of the same database
NO_ENGINE = "no engine running: stored, takes effect at the next start"
NEEDS_ENGINE = (
    "needs a running engine to trade (`oxbot run --headless` or `oxbot`): closing positions "
    "sells at market; nothing was changed"
)


def register_bot_actions(bs: argparse._SubParsersAction) -> None:
    """Add pause, resume, flatten and edit under `oxbot bots`."""
    p = bs.add_parser(
        "pause",
        epilog=EXIT_CODES,
        help="pause a running bot (no new entries; stop-loss and take-profit still watched)",
        description="Pause a running bot: it opens nothing new, its stop-loss and take-profit "
        f"are still watched. Without an engine the stored bot is paused ({NO_ENGINE}).",
    )
    p.add_argument("name")
    p.set_defaults(handler=cmd_pause)
    p = bs.add_parser(
        "resume",
        epilog=EXIT_CODES,
        help="resume a paused bot",
        description=f"Resume a paused bot. Without an engine the stored bot is set running "
        f"({NO_ENGINE}).",
    )
    p.add_argument("name")
    p.set_defaults(handler=cmd_resume)
    p = bs.add_parser(
        "flatten",
        epilog=EXIT_CODES,
        help="close a bot's open positions at market (needs the running engine)",
        description="Close every open position of the bot at market and print the fills. "
        "Needs a running engine (exit 1 without one).",
    )
    p.add_argument("name")
    p.set_defaults(handler=cmd_flatten)
    p = bs.add_parser(
        "edit",
        epilog=EXIT_CODES,
        help="change a bot's strategy parameters",
        description="Change strategy parameters (validated against the strategy's schema, as "
        "with `bots add`). A running engine restarts the bot with them; without one the "
        f"stored bot is changed ({NO_ENGINE}).",
    )
    p.add_argument("name")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        required=True,
        metavar="KEY=VALUE",
        help="strategy parameter (repeatable), e.g. --param fast=10",
    )
    p.set_defaults(handler=cmd_edit)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the top-level `panic` command."""
    p = sub.add_parser(
        "panic",
        epilog=EXIT_CODES,
        help="PANIC: stop every bot and close every position (needs --yes)",
        description="Stop every bot and close every open position at market, through the "
        "running engine. Refused without --yes (exit 2) and without an engine (exit 1).",
    )
    p.add_argument("--yes", action="store_true", help="confirm: this sells every position")
    p.set_defaults(handler=cmd_panic)


# ---------------------------------------------------------------------------- helpers


def send_collecting(path: Any, command: Any, bot: str | None, timeout: float = 30.0) -> Any:
    """Send ``command`` and wait for its CommandDone; (ok, message, the closing fills of
    ``bot``, or of every bot when None, seen meanwhile). The engine publishes a flatten's
    OrderFilled events before the command's CommandDone (engine/engine.py ``_dispatch``
    awaits the handler, then ``_done``)."""
    import threading  # noqa: PLC0415
    import uuid  # noqa: PLC0415
    from dataclasses import replace  # noqa: PLC0415

    from oxbot.engine.errors import OxbotError  # noqa: PLC0415
    from oxbot.engine.messages import CommandDone, OrderFilled  # noqa: PLC0415
    from oxbot.remote.client import SocketClient  # noqa: PLC0415

    command = replace(command, request_id=uuid.uuid4().hex)
    done = threading.Event()
    result: list[Any] = []
    fills: list[Any] = []

    def listen(ev: Any) -> None:
        # only the closing fills: a bot's own exit may fill meanwhile (reason "exit")
        if isinstance(ev, OrderFilled) and ev.reason == "flatten" and bot in (None, ev.bot):
            fills.append(ev)
        elif isinstance(ev, CommandDone) and ev.request_id == command.request_id:
            result.append(ev)
            done.set()

    client = SocketClient(path)
    client.start(listen)
    try:
        client.submit(command)
        if not done.wait(timeout):
            raise OxbotError(f"the engine did not answer within {timeout:.0f} s; {LATE}")
    finally:
        client.stop()
    return result[0].ok, result[0].message, fills


# What a command the engine has not answered in time may still do (it was sent).
LATE = (
    "the command was sent and may still be carried out when the engine catches up: check "
    "`oxbot status` and the engine's log before sending it again"
)


def fill_line(f: Any) -> str:
    return f"  {f.bot}: {f.side} {f.qty} {f.symbol} @ {f.price} fee {f.fee} ({f.reason})"


def _runs_elsewhere(args: argparse.Namespace, names: list[str] | None) -> str | None:
    """With no engine of this host on a shared (PostgreSQL) database: the engines (and hosts)
    that run the bots ``names`` (None: any bot), so the refusal points there instead of saying
    that no engine runs. None when no live engine holds them (or on SQLite)."""
    from oxbot.cli.reads import _read  # noqa: PLC0415
    from oxbot.storage.paths import DbUrl  # noqa: PLC0415

    if not isinstance(cli_bots._db(args), DbUrl):  # noqa: SLF001
        return None

    async def live(store: Any) -> list[Any]:
        return [e for e in await store.list_engines() if e.alive]

    held = [
        f"{b} runs on engine {e.name} (host {e.host})"
        for e in _read(args, live)
        for b in e.bots
        if names is None or b in names
    ]
    if not held:
        return None
    return (
        f"{'; '.join(sorted(held))}, not on an engine of this host: run the command on that "
        "host (OXBOT_ENGINE=NAME picks the engine when several run there); nothing was changed"
    )


def _stored(args: argparse.Namespace, name: str) -> tuple[Any, Any]:
    return cli_bots._need_bot(cli_bots._run(cli_bots._bots(args)), name)  # noqa: SLF001


def _store_status(args: argparse.Namespace, status: Any) -> None:
    async def change(store: Any) -> None:
        await store.set_bot_status(args.name, status)

    cli_bots._run(cli_bots._with_store(args, change))  # noqa: SLF001


# ---------------------------------------------------------------------------- commands


def cmd_pause(args: argparse.Namespace) -> int:
    from oxbot.engine.errors import ConfigError  # noqa: PLC0415
    from oxbot.engine.models import BotStatus  # noqa: PLC0415

    _cfg, status = _stored(args, args.name)
    remote = cli_bots._remote(args)  # noqa: SLF001
    if remote is not None:
        from oxbot.engine.messages import PauseBot  # noqa: PLC0415

        print(cli_bots._sent(remote, PauseBot(name=args.name)))  # noqa: SLF001
        return 0
    if status is not BotStatus.RUNNING:
        raise ConfigError(f"{args.name} is {status.value}; only a running bot can pause")
    _store_status(args, BotStatus.PAUSED)
    print(f"{args.name} paused ({NO_ENGINE})")
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    from oxbot.engine.errors import ConfigError  # noqa: PLC0415
    from oxbot.engine.models import BotStatus  # noqa: PLC0415

    _cfg, status = _stored(args, args.name)
    remote = cli_bots._remote(args)  # noqa: SLF001
    if remote is not None:
        from oxbot.engine.messages import ResumeBot  # noqa: PLC0415

        print(cli_bots._sent(remote, ResumeBot(name=args.name)))  # noqa: SLF001
        return 0
    if status is not BotStatus.PAUSED:
        raise ConfigError(f"{args.name} is {status.value}, not paused")
    _store_status(args, BotStatus.RUNNING)
    print(f"{args.name} resumed ({NO_ENGINE})")
    return 0


def cmd_flatten(args: argparse.Namespace) -> int:
    from oxbot.engine.errors import ConfigError, OxbotError  # noqa: PLC0415
    from oxbot.engine.messages import FlattenBot  # noqa: PLC0415

    _stored(args, args.name)
    remote = cli_bots._remote(args)  # noqa: SLF001
    if remote is None:
        raise OxbotError(_runs_elsewhere(args, [args.name]) or f"flatten {NEEDS_ENGINE}")
    ok, message, fills = send_collecting(remote, FlattenBot(name=args.name), args.name)
    if not ok:
        raise ConfigError(message)
    if not fills and message.startswith(f"{args.name}: 0 position"):
        print(f"{args.name}: nothing open")
        return 0
    print(message)
    for f in fills:
        print(fill_line(f))
    return 0


def cmd_panic(args: argparse.Namespace) -> int:
    from oxbot.engine.errors import OxbotError, UsageError  # noqa: PLC0415
    from oxbot.engine.messages import PanicAll  # noqa: PLC0415

    if not args.yes:
        raise UsageError(
            "PANIC stops every bot and sells every open position at market; "
            "add --yes to confirm: `oxbot panic --yes`"
        )
    remote = cli_bots._remote(args)  # noqa: SLF001
    if remote is None:
        raise OxbotError(_runs_elsewhere(args, None) or f"PANIC {NEEDS_ENGINE}")
    ok, message, fills = send_collecting(remote, PanicAll(), None, timeout=60.0)
    if not ok:
        raise OxbotError(message)
    print(message)
    for f in fills:
        print(fill_line(f))
    return 0


def edited_config(cfg: Any, items: list[str]) -> Any:
    """``cfg`` with the ``--param`` values merged into its params; ConfigError, in the words
    of `bots add`, for a bad name or value or a combination the strategy refuses."""
    import json  # noqa: PLC0415

    from pydantic import ValidationError  # noqa: PLC0415

    from oxbot.cli.params import flag_errors, split_params  # noqa: PLC0415
    from oxbot.engine.errors import ConfigError  # noqa: PLC0415
    from oxbot.engine.market.window import check_warmup  # noqa: PLC0415
    from oxbot.engine.models import BotConfig  # noqa: PLC0415
    from oxbot.engine.strategies import build_strategy  # noqa: PLC0415

    split_params(items)  # a malformed item: the usage error of `bots add`, before anything
    # the stored values first, the new ones after (later wins): validated together, so a
    # limit between two parameters (fast below slow) is judged on the values the bot will use
    kept = [f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in cfg.params.items()]
    params = cli_bots.parse_params(cfg.strategy, kept + items)
    try:
        new = BotConfig.model_validate({**cfg.model_dump(mode="json"), "params": params})
    except ValidationError as e:
        raise ConfigError(f"bot {cfg.name!r}: {flag_errors(e)}") from None
    strategy = build_strategy(new.strategy, new.params)  # the combination, checked whole
    check_warmup(strategy, new.name)
    return new


@contextlib.contextmanager
def edit_lock(args: argparse.Namespace, wait_s: float = EDIT_WAIT_S) -> Iterator[None]:
    """One `bots edit` of a database at a time, across processes: an edit reads the stored
    config, merges its parameters and sends (or saves) the whole config, so two at once would
    lose the first one's change. The lock (an exclusive flock on a file beside the engine's
    control socket, released by the kernel when the process ends) is held from the read until
    the engine has answered: the engine saves the new config before it answers
    (engine/engine.py ``_on_UpdateBot``), so the next edit reads it. OxbotError when another
    edit holds it longer than ``wait_s``."""
    import fcntl  # noqa: PLC0415
    import time  # noqa: PLC0415

    from oxbot.engine.errors import OxbotError  # noqa: PLC0415
    from oxbot.remote.paths import socket_path_for  # noqa: PLC0415 - not the server: its bus

    # imports engine/messages.py (~120 dataclasses)
    from oxbot.storage.paths import runtime_dir  # noqa: PLC0415

    path = socket_path_for(cli_bots._db(args).resolve(), runtime_dir()).with_suffix(".edit.lock")  # noqa: SLF001
    with path.open("a") as f:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise OxbotError(
                        f"another `oxbot bots edit` of this database has been running for "
                        f"{wait_s:.0f} s; nothing was changed: try again when it is done"
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _unchanged_since_read(remote: Any, cfg: Any) -> None:
    """Compare-and-set: the parameters the running engine has for the bot, read right before
    the edit is sent, must be the stored ones it was merged into; otherwise another change is
    under way (the cockpit's, or an edit the engine has not answered yet) and sending the whole
    config would undo it. OxbotError, nothing sent."""
    from oxbot.engine.errors import OxbotError  # noqa: PLC0415
    from oxbot.remote.client import request_snapshot  # noqa: PLC0415

    views = [v for v in request_snapshot(remote).bots if v.name == cfg.name]
    if views and dict(views[0].config.params) != dict(cfg.params):
        running = ", ".join(f"{k}={v}" for k, v in sorted(views[0].config.params.items()))
        raise OxbotError(
            f"{cfg.name} changed while this edit was prepared (running: {running or 'none'}; "
            "stored: "
            f"{', '.join(f'{k}={v}' for k, v in sorted(cfg.params.items())) or 'none'}): "
            "nothing was changed; try again"
        )


def cmd_edit(args: argparse.Namespace) -> int:
    with edit_lock(args, EDIT_WAIT_S):
        return _edit(args)


def _edit(args: argparse.Namespace) -> int:
    cfg, status = _stored(args, args.name)
    new = edited_config(cfg, args.param)
    changed = ", ".join(f"{k}={v}" for k, v in sorted(new.params.items()) if cfg.params.get(k) != v)
    if new == cfg:  # nothing to send: the bot is not restarted for it
        print(f"{args.name}: no change")
        return 0
    remote = cli_bots._remote(args)  # noqa: SLF001
    if remote is not None:
        from oxbot.engine.messages import UpdateBot  # noqa: PLC0415

        _unchanged_since_read(remote, cfg)
        said = cli_bots._sent(remote, UpdateBot(name=args.name, config=new))  # noqa: SLF001
        print(f"{said}: {changed or 'no change'}")
        return 0

    async def save(store: Any) -> None:
        await store.save_bot(new, status)

    cli_bots._run(cli_bots._with_store(args, save))  # noqa: SLF001
    print(f"{args.name} edited: {changed or 'no change'} ({NO_ENGINE})")
    return 0
