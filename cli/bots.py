"""`oxbot bots add|list|start|stop|delete|export|import`: manage bots from the shell
(pause, resume, flatten and edit: control.py).

When an engine is running on the database (headless or the cockpit), commands go to it over the
control socket; otherwise they change the database directly and take effect at the next start.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

EXIT_USAGE = 2


def _run(coro: Any) -> Any:
    import asyncio  # noqa: PLC0415 - only a running command needs the event loop

    return asyncio.run(coro)


class DefaultsShown(argparse.HelpFormatter):
    """Help lines end with the default, except for flags whose default means "off"."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default not in (None, False, [], argparse.SUPPRESS) and "%(default)" not in text:
            text += " (default: %(default)s)"
        return text


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bots", help="add, list, start, stop, delete, export and import bots")
    bs = p.add_subparsers(dest="bots_command", metavar="ACTION", required=True)

    a = bs.add_parser("add", help="add a bot (paper by default)", formatter_class=DefaultsShown)
    a.add_argument("name", help="1-40 letters, digits, '_', '-' or '.'")
    a.add_argument("--strategy", default="sma_cross", help="sma_cross, rsi_reversion or llm")
    a.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="strategy parameter (repeatable), e.g. --param fast=10",
    )
    a.add_argument("--symbols", default="BTC/USDT", help="comma separated, e.g. BTC/USDT,ETH/USDT")
    a.add_argument("--exchange", default="sim", help="'sim' (built-in market) or a ccxt id")
    a.add_argument("--timeframe", default="1m", help="candle length: 1m, 5m, 15m, 1h, 4h, 1d")
    a.add_argument(
        "--capital",
        default="10000",
        metavar="AMOUNT",
        help="starting cash, in the quote currency (USDT for BTC/USDT)",
    )
    a.add_argument(
        "--cadence",
        type=int,
        default=0,
        metavar="SECONDS",
        help="decide at most every N seconds (0 = every candle close)",
    )
    a.add_argument(
        "--fee",
        default="0.001",
        metavar="RATE",
        help="fee rate per fill, below 0.1: 0.001 = 0.1 %%",
    )
    a.add_argument(
        "--max-position-pct", default="15", metavar="PCT", help="largest position, %% of equity"
    )
    a.add_argument(
        "--max-exposure-pct",
        default="85",
        metavar="PCT",
        help="all positions together, %% of equity",
    )
    a.add_argument(
        "--stop-loss-pct",
        default="3.5",
        metavar="PCT",
        help="stop-loss distance below the entry, %%",
    )
    a.add_argument(
        "--take-profit-pct",
        default="7",
        metavar="PCT",
        help="take-profit distance above the entry, %%",
    )
    a.add_argument(
        "--cron",
        default="",
        metavar="EXPR",
        help="decide at these times instead: a cron expression in UTC, 5 fields or 6 with "
        "seconds first, e.g. '*/30 * * * * *' (every 30 s) or '0 */5 * * * *'",
    )
    a.add_argument(
        "--run-on-start",
        action="store_true",
        help="decide once as soon as the bot starts or resumes",
    )
    a.add_argument(
        "--retry-attempts",
        type=int,
        default=20,
        metavar="N",
        help="failed cycles in a row before the bot is stopped in the error state (default 20)",
    )
    a.add_argument(
        "--retry-delay",
        type=int,
        default=0,
        metavar="SECONDS",
        help="try a failed cycle again after this many seconds (0 = at the next due time)",
    )
    a.add_argument(
        "--max-hold",
        metavar="TIME",
        help="maximum holding time, e.g. 4h, 90m, 2d: an older position is closed (time exit)",
    )
    a.add_argument(
        "--on-stop",
        choices=("keep", "close"),
        default="keep",
        help="what stopping the bot does with its open positions: keep them (their "
        "stop-loss and take-profit are then not watched) or close them at market",
    )
    a.add_argument("--live", action="store_true", help="LIVE trading with real money")
    a.add_argument(
        "--yes-i-mean-live", action="store_true", help="confirm --live (required with it)"
    )
    a.add_argument("--start", action="store_true", help="start it right away")
    a.set_defaults(handler=cmd_add)

    ls = bs.add_parser("list", help="list bots")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=cmd_list)

    for verb, helptext in (("start", "start a bot"), ("stop", "stop a bot")):
        s = bs.add_parser(verb, help=helptext)
        s.add_argument("name")
        s.set_defaults(handler=cmd_start if verb == "start" else cmd_stop)
        if verb == "stop":
            what = s.add_mutually_exclusive_group()
            what.add_argument(
                "--close",
                dest="close_positions",
                action="store_const",
                const=True,
                help="close its open positions at market (needs the running engine)",
            )
            what.add_argument(
                "--keep",
                dest="close_positions",
                action="store_const",
                const=False,
                help="keep its open positions (their stop-loss and "
                "take-profit are then not watched); the default is the bot's "
                "on_stop setting",
            )

    d = bs.add_parser("delete", help="delete a bot (history kept unless --purge)")
    d.add_argument("name")
    d.add_argument("--purge", action="store_true", help="also delete its orders, fills, history")
    d.set_defaults(handler=cmd_delete)

    ex = bs.add_parser("export", help="write bot configs as JSON (no keys, ever)")
    ex.add_argument("--out", default="-", help="file (default: stdout)")
    ex.set_defaults(handler=cmd_export)
    im = bs.add_parser("import", help="add bots from a JSON export")
    im.add_argument("file")
    im.add_argument(
        "--yes-i-mean-live",
        action="store_true",
        help="confirm importing LIVE bots (they trade real money)",
    )
    im.set_defaults(handler=cmd_import)

    from oxbot.cli.control import register_bot_actions  # noqa: PLC0415

    register_bot_actions(bs)


# ---------------------------------------------------------------------------- helpers


def parse_params(strategy: str, items: list[str]) -> dict[str, Any]:
    """``--param`` values coerced by the strategy's own Params model (see cli_params)."""
    from oxbot.app.strategies import with_ranges  # noqa: PLC0415
    from oxbot.cli.params import strategy_params  # noqa: PLC0415
    from oxbot.engine.errors import ConfigError  # noqa: PLC0415
    from oxbot.engine.strategies import strategy_class  # noqa: PLC0415

    try:
        return strategy_params(strategy, items)
    except ConfigError as e:  # a bad value: say each named parameter's range too
        text = str(e)
        if text.startswith(f"strategy {strategy}: "):
            text = with_ranges(text, strategy_class(strategy).Params)
        raise ConfigError(text) from None


def build_config(args: argparse.Namespace) -> Any:
    from pydantic import ValidationError  # noqa: PLC0415

    from oxbot.app.strategies import build_checked  # noqa: PLC0415
    from oxbot.cli.params import flag_errors  # noqa: PLC0415
    from oxbot.engine.errors import ConfigError  # noqa: PLC0415
    from oxbot.engine.models import BotConfig, Mode  # noqa: PLC0415

    if args.live and not args.yes_i_mean_live:
        raise ConfigError("--live trades real money; add --yes-i-mean-live to confirm")
    risk = {
        k: getattr(args, k)
        for k in ("max_position_pct", "max_exposure_pct", "stop_loss_pct", "take_profit_pct")
        if getattr(args, k) is not None
    }
    if getattr(args, "max_hold", None):
        from oxbot.engine.risk import parse_hold  # noqa: PLC0415

        try:
            risk["max_hold_s"] = parse_hold(args.max_hold)
        except ValueError as e:
            raise ConfigError(f"--max-hold: {e}") from None
    data = {
        "name": args.name,
        "exchange": args.exchange,
        "symbols": args.symbols,
        "timeframe": args.timeframe,
        "strategy": args.strategy,
        "params": parse_params(args.strategy, args.param),
        "capital": args.capital,
        "risk": risk,
        "cadence_s": args.cadence,
        "fee_rate": args.fee,
        "mode": Mode.LIVE if args.live else Mode.PAPER,
        "on_stop": args.on_stop,
        "cron": args.cron,
        "run_on_start": args.run_on_start,
        "retry_attempts": args.retry_attempts,
        "retry_delay_s": args.retry_delay,
    }
    try:
        cfg = BotConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(f"bot {args.name!r}: {flag_errors(e)}") from None
    from oxbot.engine.market.window import check_warmup  # noqa: PLC0415

    # ConfigError names the bad parameter, or a warm-up longer than live data keeps
    strategy = build_checked(cfg.strategy, cfg.params)  # a user's: indicators() built once
    check_warmup(strategy, cfg.name)
    strategy.check_setup()  # e.g. an LLM budget needs the model's price
    check_exchange(cfg.exchange)
    return cfg


def check_keys(args: argparse.Namespace, cfg: Any) -> None:
    """ConfigError naming the missing LLM or exchange key and `oxbot keys set ...`; for the
    commands that change the database themselves (a running engine checks on its own)."""
    from oxbot.app.runtime import RuntimeOptions, key_check  # noqa: PLC0415

    _run(key_check(RuntimeOptions(db_path=_db(args)))(cfg))


def check_exchange(exchange: str) -> None:
    """ConfigError for an exchange id that is neither 'sim' nor known to ccxt (a typo would
    otherwise be saved and only fail when the engine starts the bot)."""
    from oxbot.engine.exchange.quirks import check_exchange_id  # noqa: PLC0415

    check_exchange_id(exchange)


def _db(args: argparse.Namespace) -> Path:
    from oxbot.storage.paths import resolve_db_path  # noqa: PLC0415

    return resolve_db_path(args.db)


def _remote(args: argparse.Namespace) -> Any:
    """A connected SocketClient when an engine runs on this database, else None."""
    from oxbot.remote.client import engine_running  # noqa: PLC0415
    from oxbot.remote.paths import engine_socket  # noqa: PLC0415
    from oxbot.storage.paths import runtime_dir  # noqa: PLC0415

    path = engine_socket(_db(args).resolve(), runtime_dir())  # PostgreSQL: $OXBOT_ENGINE
    return path if engine_running(path) else None


def _send(path: Path, command: Any, timeout: float = 15.0) -> tuple[bool, str]:
    """Send one command to a running engine and wait for its CommandDone."""
    import threading  # noqa: PLC0415
    import uuid  # noqa: PLC0415
    from dataclasses import replace  # noqa: PLC0415

    from oxbot.engine.messages import CommandDone  # noqa: PLC0415
    from oxbot.remote.client import SocketClient  # noqa: PLC0415

    command = replace(command, request_id=uuid.uuid4().hex)
    done = threading.Event()
    result: list[Any] = []

    def listen(ev: Any) -> None:
        if isinstance(ev, CommandDone) and ev.request_id == command.request_id:
            result.append(ev)
            done.set()

    client = SocketClient(path)
    client.start(listen)
    try:
        client.submit(command)
        if not done.wait(timeout):
            return False, f"the engine did not answer within {timeout:.0f} s"
    finally:
        client.stop()
    return result[0].ok, result[0].message


async def _with_store(args: argparse.Namespace, fn: Any, writer: bool = True) -> Any:
    from oxbot.storage.store import Store  # noqa: PLC0415

    store = await Store.open(_db(args), writer=writer)
    try:
        return await fn(store)
    finally:
        await store.close()


def _sent(path: Path, command: Any) -> str:
    """Send to the running engine and return its answer; a refusal is the same usage error as
    without an engine."""
    from oxbot.engine.errors import ConfigError, OxbotError  # noqa: PLC0415

    ok, message = _send(path, command)
    if not ok:
        if message.startswith("the engine did not answer"):
            from oxbot.cli.control import LATE  # noqa: PLC0415

            raise OxbotError(f"{message}; {LATE}")
        raise ConfigError(message)
    return message


def _db_given(args: argparse.Namespace) -> str | None:
    """ "--db" or "OXBOT_DB" when the user named the database, else None (the default one)."""
    import os  # noqa: PLC0415

    if getattr(args, "db", None):
        return "--db"
    return "OXBOT_DB" if os.environ.get("OXBOT_DB") else None


def _no_database(args: argparse.Namespace) -> str:
    """What to say when the database file does not exist (nothing is created to say it)."""
    db = _db(args)
    given = _db_given(args)
    if given:
        return (
            f"{given} {db} does not exist; check the path (`oxbot bots add` or `oxbot` "
            "creates a new database there)"
        )
    return (
        f"no database yet at {db}: add a bot (`oxbot bots add NAME --strategy sma_cross`) "
        "or run `oxbot --demo`"
    )


def _say_if_new_database(args: argparse.Namespace) -> None:
    """Adding to a file that does not exist makes a new database: name it, so a typo in --db
    shows at once."""
    db = _db(args)
    if not db.exists():
        print(f"oxbot: new database {db}", file=sys.stderr)


async def _bots(args: argparse.Namespace) -> dict[str, Any]:
    """name -> (config, status) of the live bots. A missing database named by --db or
    OXBOT_DB is a usage error (a typo, most likely); the default one is simply empty."""
    from oxbot.engine.errors import UsageError  # noqa: PLC0415

    if not _db(args).exists():
        if _db_given(args):
            raise UsageError(_no_database(args))
        return {}
    rows = await _with_store(args, lambda s: s.load_bots(), writer=False)
    return {cfg.name: (cfg, status) for cfg, status in rows}


def _need_bot(bots: dict[str, Any], name: str) -> Any:
    from oxbot.engine.errors import ConfigError  # noqa: PLC0415

    if name not in bots:
        raise ConfigError(f"no bot named {name!r}; see `oxbot bots list`")
    return bots[name]


def _live_warning(cfg: Any) -> None:
    from oxbot.engine.models import Mode  # noqa: PLC0415

    if cfg.mode is Mode.LIVE:
        print(
            f"WARNING: {cfg.name} is a LIVE bot: it trades real money on {cfg.exchange} "
            f"({','.join(cfg.symbols)}); stop it with `oxbot bots stop {cfg.name}`",
            file=sys.stderr,
        )


# ---------------------------------------------------------------------------- commands


def cmd_add(args: argparse.Namespace) -> int:
    from oxbot.engine.errors import ConfigError  # noqa: PLC0415
    from oxbot.engine.models import BotStatus  # noqa: PLC0415

    cfg = build_config(args)
    remote = _remote(args)
    if remote is not None:
        # engine/messages.py builds ~120 dataclasses: only a running engine is sent one
        from oxbot.engine.messages import AddBot  # noqa: PLC0415

        if cfg.name in _run(_bots(args)):
            raise ConfigError(f"a bot named {cfg.name!r} already exists; pick another name")
        _sent(remote, AddBot(config=cfg, start=args.start))
        when = " and started" if args.start else ""
    else:
        check_keys(args, cfg)  # refused: nothing is written, not even a new database
        _say_if_new_database(args)

        async def add(store: Any) -> None:
            names = {c.name for c, _ in await store.load_bots()}
            if cfg.name in names:
                raise ConfigError(f"a bot named {cfg.name!r} already exists; pick another name")
            await store.save_bot(cfg, BotStatus.RUNNING if args.start else BotStatus.STOPPED)

        _run(_with_store(args, add))
        when = " and will start with the engine" if args.start else ""
    print(
        f"added {cfg.name} ({cfg.strategy} on {cfg.exchange} {','.join(cfg.symbols)} "
        f"{cfg.timeframe}, {cfg.mode.value}){when}"
    )
    if args.start:
        _live_warning(cfg)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    """Every bot with its figures. With an engine running: its live status and figures; without
    one: never "running" (a bot stored as running shows "stopped (no engine)" and starts with
    the engine), figures rebuilt from the database."""
    from oxbot.app.strategies import strategy_problem  # noqa: PLC0415
    from oxbot.cli.reads import bot_figures, snapshot_or_none  # noqa: PLC0415

    stored = _run(_bots(args))
    snapshot = snapshot_or_none(args) if stored else None
    figures = bot_figures(args, snapshot) if stored else {}
    rows: list[dict[str, Any]] = []
    for cfg, _status in stored.values():
        rows.append(
            {
                "name": cfg.name,
                "mode": cfg.mode.value,
                "strategy": cfg.strategy,
                "exchange": cfg.exchange,
                "symbols": list(cfg.symbols),
                "timeframe": cfg.timeframe,
                "capital": str(cfg.capital),
                # why its strategy does not load now (a user's file with an error), or ""
                "error": strategy_problem(cfg.strategy, cfg.params),
                "engine": snapshot is not None,
                **figures[cfg.name],  # status, equity, pnl, ..., last_error
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        if not _db(args).exists():
            print(_no_database(args))
            return 0
        print("no bots yet: `oxbot bots add NAME --strategy sma_cross` or `oxbot --demo`")
        return 0
    head = ("NAME", "STATUS", "MODE", "STRATEGY", "MARKET", "SYMBOLS", "TF", "CAPITAL")
    head += ("EQUITY", "P&L", "OPEN")
    table = [head] + [
        (
            r["name"],
            status_text(r),
            r["mode"].upper(),
            r["strategy"],
            r["exchange"],
            ",".join(r["symbols"]),
            r["timeframe"],
            r["capital"],
            r["equity"],
            r["pnl"],
            r["open_positions"],
        )
        for r in rows
    ]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(head))]
    for row in table:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    for r in rows:
        if r["error"]:
            print(f"{r['name']}: {r['error']}")
        elif r["last_error"]:
            print(f"{r['name']}: last error: {r['last_error']}")
    return 0


def status_text(row: dict[str, Any]) -> str:
    """The STATUS cell: without an engine a bot stored as running or paused is shown stopped,
    with what it does at the next start."""
    if row.get("run_by"):  # run by another engine of a shared database
        return f"{row['status']} on {row['run_by']}"
    stored = row.get("stored_status")
    if stored in ("running", "paused"):
        return "stopped (no engine; " + ("runs" if stored == "running" else "paused") + " at start)"
    return str(row["status"])


def _set_status(args: argparse.Namespace, start: bool) -> int:
    from oxbot.engine.errors import UsageError  # noqa: PLC0415
    from oxbot.engine.models import BotStatus  # noqa: PLC0415

    cfg, _status = _need_bot(_run(_bots(args)), args.name)
    close = getattr(args, "close_positions", None)
    remote = _remote(args)
    if remote is not None:
        from oxbot.engine.messages import StartBot, StopBot  # noqa: PLC0415

        said = _sent(
            remote,
            StartBot(name=args.name) if start else StopBot(name=args.name, close_positions=close),
        )
        print(said or (f"{args.name} started" if start else f"{args.name} stopped"))
    elif close:
        raise UsageError(
            f"--close sells at market, which needs the running engine (`oxbot run "
            f"--headless` or `oxbot`); without it `oxbot bots stop {args.name}` "
            "keeps the positions; nothing was changed"
        )
    else:
        if start:
            from oxbot.app.strategies import strategy_problem  # noqa: PLC0415
            from oxbot.engine.errors import ConfigError  # noqa: PLC0415

            problem = strategy_problem(cfg.strategy, cfg.params)
            if problem:
                raise ConfigError(f"{args.name} not started: {problem}")
            check_keys(args, cfg)

        async def change(store: Any) -> int:
            await store.set_bot_status(args.name, BotStatus.RUNNING if start else BotStatus.STOPPED)
            return len(await store.load_positions(args.name))

        held = _run(_with_store(args, change))
        if start:
            print(f"{args.name} will start with the engine (`oxbot` or `oxbot run --headless`)")
        elif held:
            print(
                f"{args.name} stopped; {held} position{'s' if held > 1 else ''} kept: "
                "stop-loss and take-profit are not watched until it runs again"
            )
        else:
            print(f"{args.name} stopped")
    if start:
        _live_warning(cfg)
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    return _set_status(args, True)


def cmd_stop(args: argparse.Namespace) -> int:
    return _set_status(args, False)


def cmd_delete(args: argparse.Namespace) -> int:
    from oxbot.engine.errors import ConfigError  # noqa: PLC0415

    if not args.purge:  # a purge may also clear the kept history of a deleted bot
        _need_bot(_run(_bots(args)), args.name)
    remote = _remote(args)
    if remote is not None:
        from oxbot.engine.messages import DeleteBot  # noqa: PLC0415

        _sent(remote, DeleteBot(name=args.name, purge_history=args.purge))
    else:

        async def delete(store: Any) -> bool:
            return bool(await store.delete_bot(args.name, purge_history=args.purge))

        if not _run(_with_store(args, delete)):
            raise ConfigError(f"no bot named {args.name!r}; see `oxbot bots list`")
    print(f"deleted {args.name} ({'history purged' if args.purge else 'history kept'})")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from oxbot.engine.errors import UsageError  # noqa: PLC0415

    out = None if args.out == "-" else Path(args.out).expanduser()
    if out is not None and out.exists() and out.resolve() == _db(args).resolve():
        raise UsageError(
            f"--out {args.out} is the database itself; give another file name, e.g. --out bots.json"
        )
    data = [cfg.model_dump(mode="json") for cfg, _ in _run(_bots(args)).values()]
    text = json.dumps(data, indent=2)
    if out is None:
        print(text)
    else:
        out.write_text(text + "\n")
        print(f"exported {len(data)} bot(s) to {args.out}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from pydantic import ValidationError  # noqa: PLC0415

    from oxbot.app.strategies import build_checked  # noqa: PLC0415
    from oxbot.cli.params import flag_errors  # noqa: PLC0415
    from oxbot.engine.errors import ConfigError  # noqa: PLC0415
    from oxbot.engine.market.window import check_warmup  # noqa: PLC0415
    from oxbot.engine.models import BotConfig, BotStatus, Mode  # noqa: PLC0415

    try:
        raw = json.loads(Path(args.file).read_text())
    except OSError as e:
        raise ConfigError(
            f"cannot read {args.file}: {(e.strerror or str(e)).lower()}; check the path"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(
            f"{args.file} is not valid JSON ({e}); give a file written by `oxbot bots export`"
        ) from None
    if not isinstance(raw, list):
        raise ConfigError(f"{args.file}: expected a JSON list of bot configs")
    configs = []
    for i, item in enumerate(raw):  # validate everything before writing anything
        try:
            cfg = BotConfig.model_validate(item)
        except ValidationError as e:
            raise ConfigError(f"{args.file} item {i}: {flag_errors(e, hints=False)}") from None
        check_warmup(build_checked(cfg.strategy, cfg.params), cfg.name)
        check_exchange(cfg.exchange)
        configs.append(cfg)
    counts = Counter(c.name for c in configs)
    repeated = sorted(name for name, n in counts.items() if n > 1)
    if repeated:
        raise ConfigError(
            f"{args.file} names {', '.join(repeated)} more than once; "
            "rename the copies; nothing imported"
        )
    live = [c.name for c in configs if c.mode is Mode.LIVE]
    if live and not args.yes_i_mean_live:
        raise ConfigError(
            f"{args.file} holds LIVE bot(s) {', '.join(live)} that trade real "
            'money; add --yes-i-mean-live to import them, or set "mode": '
            '"paper"; nothing imported'
        )

    _say_if_new_database(args)

    async def put(store: Any) -> None:
        await store.add_bots(configs, BotStatus.STOPPED)  # one transaction: all or none

    _run(_with_store(args, put))
    print(f"imported {len(configs)} bot(s) (stopped; start them with `oxbot bots start NAME`)")
    if live:
        print(f"WARNING: {', '.join(live)} LIVE: starting them trades real money", file=sys.stderr)
    return 0
