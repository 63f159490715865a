"""`oxbot trades [BOT]`, `oxbot positions [BOT]`, `oxbot equity BOT`, and the per-bot figures
of `oxbot status` and `oxbot bots list`.

Read commands work with or without an engine: they read the database read-only (the engine is
the ledger's one writer; readers never block it: storage/reads.py). With an engine running,
positions get its live marks and the per-bot figures come from its snapshot (remote/client.py
``request_snapshot``); without one, they are rebuilt from the stored fills and equity.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from oxbot.cli import bots as cli_bots

EXIT_CODES = "exit codes: 0 done, 1 failed or refused at run time, 2 usage error"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "trades",
        epilog=EXIT_CODES,
        help="closed round trips (entry, exit, duration, P&L, reason, fees) and daily P&L",
        description="List the closed round trips of one bot or of every bot, oldest first, "
        "then one P&L line per UTC day of exit. Reads the database; works with or without an "
        "engine running.",
    )
    p.add_argument("bot", nargs="?", help="only this bot (default: every bot)")
    p.add_argument(
        "--since",
        metavar="DATE",
        help="only trips closed from DATE on (UTC): 2026-12-01 or 2026-12-01T08:00",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object (for scripts)")
    p.set_defaults(handler=cmd_trades)

    p = sub.add_parser(
        "positions",
        epilog=EXIT_CODES,
        help="open positions (with live marks when an engine runs)",
        description="List the open positions of one bot or of every bot from the database; "
        "with an engine running, each also gets its current mark and unrealised P&L.",
    )
    p.add_argument("bot", nargs="?", help="only this bot (default: every bot)")
    p.add_argument("--json", action="store_true", help="print a JSON list (for scripts)")
    p.set_defaults(handler=cmd_positions)

    p = sub.add_parser(
        "equity",
        epilog=EXIT_CODES,
        help="a bot's stored equity curve (ts, equity)",
        description="Print a bot's stored equity points, oldest first (older points are "
        "thinned as they age). Reads the database; works with or without an engine.",
    )
    p.add_argument("bot")
    p.add_argument("--since", metavar="DATE", help="only points from DATE on (UTC)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--csv", action="store_true", help="CSV: ts (ISO 8601, UTC),equity")
    fmt.add_argument("--json", action="store_true", help="a JSON list (for scripts)")
    p.set_defaults(handler=cmd_equity)


# ---------------------------------------------------------------------------- helpers


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_since(text: str | None) -> int:
    """``--since`` as UTC ms (0 when not given); UsageError for text that is not a date."""
    from oxbot.engine.errors import UsageError  # noqa: PLC0415

    if not text:
        return 0
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--since {text!r}: give a UTC date or time, e.g. 2026-12-01 or 2026-12-01T08:00"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def duration(seconds: int) -> str:
    days, rest = divmod(max(seconds, 0), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s"


def when(entry_ms: int, exit_ms: int) -> tuple[str, str]:
    """A trade's entry and exit as the trades table shows them (UTC, to the minute; the exit
    without its date when it is the entry's day), so a row fits 120 columns: ``2026-12-07
    12:42``, ``12:49``. --json keeps the full ISO 8601 times."""
    fmt = "%Y-%m-%d %H:%M"
    entry = datetime.fromtimestamp(entry_ms / 1000, UTC)
    exit_ = datetime.fromtimestamp(exit_ms / 1000, UTC)
    same_day = entry.date() == exit_.date()
    return entry.strftime(fmt), exit_.strftime("%H:%M" if same_day else fmt)


def money(value: Decimal, places: str = "0.01") -> str:
    return str(value.quantize(Decimal(places)))


def table(head: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    cells = [head, *[tuple(str(c) for c in r) for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells
    )


def selected(args: argparse.Namespace, name: str | None) -> list[Any]:
    """The stored configs of bot ``name`` (ConfigError when unknown) or of every bot."""
    stored = cli_bots._run(cli_bots._bots(args))  # noqa: SLF001
    if name is None:
        return [cfg for cfg, _ in stored.values()]
    cfg, _status = cli_bots._need_bot(stored, name)  # noqa: SLF001
    return [cfg]


def _read(args: argparse.Namespace, fn: Any) -> Any:
    return cli_bots._run(cli_bots._with_store(args, fn, writer=False))  # noqa: SLF001


def snapshot_or_none(args: argparse.Namespace) -> Any:
    """The running engine's EngineSnapshot, or None when no engine runs on the database. An
    engine that does not answer (stuck, overloaded) is said on stderr and the figures are read
    from the database (``args.engine_silent`` set: statuses are then shown as stored)."""
    from oxbot.engine.errors import OxbotError  # noqa: PLC0415
    from oxbot.remote.client import request_snapshot  # noqa: PLC0415

    remote = cli_bots._remote(args)  # noqa: SLF001
    if remote is None:
        return None
    try:
        return request_snapshot(remote)
    except OxbotError as e:
        args.engine_silent = True
        print(
            f"oxbot: {e}; the figures below are read from the database (statuses as stored)",
            file=sys.stderr,
        )
        return None


# ---------------------------------------------------------------------------- per-bot figures


def bot_figures(args: argparse.Namespace, snapshot: Any) -> dict[str, dict[str, Any]]:
    """name -> equity, pnl (equity minus net deposits), realised, fees, open_positions,
    last_error and status, of every stored bot: from the engine's snapshot when it runs, else
    rebuilt from the database (status then never "running": nothing runs without an engine).
    """
    from oxbot.engine.models import BotStatus  # noqa: PLC0415

    has_db = cli_bots._db(args).exists()  # noqa: SLF001
    stored = cli_bots._run(cli_bots._bots(args)) if has_db or snapshot is None else {}  # noqa: SLF001
    elsewhere = {n: e for n, e in _elsewhere(args, snapshot, bool(stored)).items() if n in stored}
    views = {} if snapshot is None else {v.name: v for v in snapshot.bots}
    views = {n: v for n, v in views.items() if n not in elsewhere}
    out: dict[str, dict[str, Any]] = {}
    offline = [cfg for name, (cfg, _) in stored.items() if name not in views]
    rebuilt = _read(args, lambda s: _rebuild(s, offline)) if offline else {}
    statuses = {name: status for name, (_, status) in stored.items()}
    for name in [*statuses, *(n for n in views if n not in statuses)]:
        status = statuses.get(name)
        view = views.get(name)
        if view is not None:
            out[name] = {
                "status": view.status.value,
                "equity": money(view.equity),
                "pnl": money(view.equity - view.start_equity),
                "realised": money(view.realised),
                "fees": money(view.fees),
                "open_positions": view.open_positions,
                "last_error": view.last_error,
            }
            continue
        if name in elsewhere:  # run by another engine: the ledger's figures, and which engine
            shown = status if status is not None else BotStatus.RUNNING
            out[name] = {"status": shown.value, "run_by": elsewhere[name], **rebuilt[name]}
            continue
        shown = status if status in (BotStatus.STOPPED, BotStatus.ERROR) else BotStatus.STOPPED
        if getattr(args, "engine_silent", False) and status is not None:
            shown = status  # an engine runs but did not answer: what it stored, not "stopped"
        out[name] = {"status": shown.value, **rebuilt[name]}
        if snapshot is None:
            out[name]["stored_status"] = status.value
    return out


def _elsewhere(args: argparse.Namespace, snapshot: Any, stored: bool) -> dict[str, str]:
    """Bot -> the name of the OTHER engine that runs it (several engines on one PostgreSQL
    database): the local engine's snapshot says which of its bots another engine holds;
    without a local engine, the live leases say (adversary F2: a bot trading on engine B was
    listed "stopped" with frozen figures on A's host)."""
    if snapshot is not None:
        return {v.name: v.engine for v in snapshot.bots if getattr(v, "engine", None)}
    from oxbot.storage.paths import DbUrl  # noqa: PLC0415

    if not stored or not isinstance(cli_bots._db(args), DbUrl):  # noqa: SLF001
        return {}  # SQLite: one engine, and none runs (no snapshot)

    async def owners(store: Any) -> dict[str, str]:
        return {b: e.name for e in await store.list_engines() if e.alive for b in e.bots}

    return dict(_read(args, owners))


async def _rebuild(store: Any, configs: list[Any]) -> dict[str, dict[str, Any]]:
    from oxbot.engine.portfolio import Portfolio  # noqa: PLC0415

    out: dict[str, dict[str, Any]] = {}
    for cfg in configs:
        wallet = Portfolio.from_ledger(
            cfg.capital, await store.load_fills(cfg.name), flows=await store.load_flows(cfg.name)
        )
        last = await store.equity_series(cfg.name, limit=1)
        # the last sampled equity (marked to market); at cost before the first sample
        equity = last[-1][1] if last else wallet.cash + wallet.cost_basis()
        decisions = await store.recent_decisions(cfg.name, 1)
        out[cfg.name] = {
            "equity": money(equity),
            "pnl": money(equity - wallet.net_deposits),
            "realised": money(wallet.realised),
            "fees": money(wallet.fees),
            "open_positions": len(await store.load_positions(cfg.name)),
            "last_error": decisions[-1].error if decisions else "",
        }
    return out


# ---------------------------------------------------------------------------- commands


def trades_data(args: argparse.Namespace) -> dict[str, Any]:
    from oxbot.app.trips import daily_pnl, round_trips  # noqa: PLC0415

    since = parse_since(args.since)
    configs = selected(args, args.bot)

    async def load(store: Any) -> list[Any]:
        trips = []
        for cfg in configs:
            trips += round_trips(await store.load_fills(cfg.name))
        return trips

    trips = sorted(
        (t for t in (_read(args, load) if configs else []) if t.exit_ts >= since),
        key=lambda t: (t.exit_ts, t.bot, t.symbol),
    )
    return {
        "trades": [
            {
                "bot": t.bot,
                "symbol": t.symbol,
                "entry_ts": t.entry_ts,
                "exit_ts": t.exit_ts,
                "entry_time": iso(t.entry_ts),
                "exit_time": iso(t.exit_ts),
                "duration_s": t.duration_s,
                "qty": str(t.qty),
                "entry_price": str(t.entry_price),
                "exit_price": str(t.exit_price),
                "pnl": str(t.pnl),
                "fees": str(t.fees),
                "reason": t.reason,
            }
            for t in trips
        ],
        "daily": [
            {
                "day": d.day,
                "trades": d.trades,
                "wins": d.wins,
                "pnl": str(d.pnl),
                "fees": str(d.fees),
            }
            for d in daily_pnl(trips)
        ],
    }


def cmd_trades(args: argparse.Namespace) -> int:
    data = trades_data(args)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    if not data["trades"]:
        print("no closed trades" + (f" since {args.since}" if args.since else ""))
        return 0
    head = (
        "BOT",
        "SYMBOL",
        "ENTRY (UTC)",
        "EXIT",
        "DURATION",
        "QTY",
        "IN",
        "OUT",
        "P&L",
        "FEES",
        "REASON",
    )
    rows = [
        (
            t["bot"],
            t["symbol"],
            *when(t["entry_ts"], t["exit_ts"]),
            duration(t["duration_s"]),
            t["qty"],
            t["entry_price"],
            t["exit_price"],
            money(Decimal(t["pnl"])),
            money(Decimal(t["fees"]), "0.0001"),
            t["reason"],
        )
        for t in data["trades"]
    ]
    print(table(head, rows))
    print()
    for d in data["daily"]:
        print(
            f"{d['day']}  {d['trades']} trade{'s' if d['trades'] != 1 else ''}, {d['wins']} won, "
            f"P&L {money(Decimal(d['pnl']))}, fees {money(Decimal(d['fees']))}"
        )
    return 0


def positions_data(args: argparse.Namespace) -> list[dict[str, Any]]:
    configs = selected(args, args.bot)
    snapshot = snapshot_or_none(args)
    live = {} if snapshot is None else {(p.bot, p.symbol): p for p in snapshot.positions}

    async def load(store: Any) -> list[tuple[str, Any]]:
        return [(c.name, p) for c in configs for p in (await store.load_positions(c.name)).values()]

    rows = []
    for bot, p in _read(args, load) if configs else []:
        view = live.get((bot, p.symbol))
        rows.append(
            {
                "bot": bot,
                "symbol": p.symbol,
                "side": p.side,
                "qty": str(p.qty),
                "entry": str(p.avg_entry),
                "stop_loss": None if p.stop_loss is None else str(p.stop_loss),
                "take_profit": None if p.take_profit is None else str(p.take_profit),
                "opened_ts": p.opened_ts,
                "opened_time": iso(p.opened_ts),
                # the engine's live figures; None without an engine (no market to mark at)
                "mark": None if view is None else str(view.mark),
                "unrealised": None if view is None else str(view.unrealised),
            }
        )
    return rows


def cmd_positions(args: argparse.Namespace) -> int:
    rows = positions_data(args)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no open positions")
        return 0
    head = ("BOT", "SYMBOL", "QTY", "ENTRY", "MARK", "UNREALISED", "SL", "TP", "OPENED")
    print(
        table(
            head,
            [
                (
                    r["bot"],
                    r["symbol"],
                    r["qty"],
                    r["entry"],
                    r["mark"] or "-",
                    "-" if r["unrealised"] is None else money(Decimal(r["unrealised"])),
                    r["stop_loss"] or "-",
                    r["take_profit"] or "-",
                    r["opened_time"],
                )
                for r in rows
            ],
        )
    )
    if all(r["mark"] is None for r in rows):
        print("(no engine running: no live marks)")
    return 0


def cmd_equity(args: argparse.Namespace) -> int:
    since = parse_since(args.since)
    (cfg,) = selected(args, args.bot)
    points = _read(args, lambda s: s.equity_since(cfg.name, since))
    if args.json:
        rows = [{"ts": ts, "time": iso(ts), "equity": str(eq)} for ts, eq in points]
        print(json.dumps(rows, indent=2))
    elif args.csv:
        print("ts,equity")
        for ts, eq in points:
            print(f"{iso(ts)},{eq}")
    elif not points:
        print(f"{cfg.name} has no equity points yet")
    else:
        print(table(("TIME", "EQUITY"), [(iso(ts), money(eq)) for ts, eq in points]))
    return 0
