"""`oxbot replay BOT [--since DATE] [--until DATE] [--risk KEY=VALUE ...] [--fee-bps N]
[--slippage-bps N] [--csv SYMBOL=FILE] [--json]`: a bot's stored decisions re-run through
today's or changed risk limits and costs, as stored vs replayed (app/replay.py)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from oxbot.app.replay import Outcome, ReplayReport
    from oxbot.app.trips import RoundTrip

SHOWN = 10  # trades listed per side in the text report

DESCRIPTION = (
    "Re-run the bot's stored decisions (no model is called) through a fresh risk manager with "
    "the bot's stored limits, or the ones changed with --risk, and a paper broker with its fee "
    "and slippage (or --fee-bps, --slippage-bps); then show the verdicts that differ, the "
    "trades, final equity, return and max drawdown as stored and as replayed. Prices: the "
    "candles of the bot's market, read as `oxbot backtest --bot` reads them (--csv per symbol, "
    "else the candle cache); each decision fills at the close of the candle it was made on "
    "(the price the live bot filled at), and SL/TP and time exits between decisions are "
    "replayed from the same candles' ticks and ranges. Limits: the candles must be the ones "
    "the bot traded; capital added or withdrawn is replayed when it happened (return is P&L "
    "over the start plus deposits); with --since the replay starts "
    "from the positions the stored fills give then, the kill switches remembering the peak "
    "and the day's opening equity of the stored equity samples."
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "replay",
        help="re-run a bot's stored decisions with other risk limits or costs (no model call)",
        description=DESCRIPTION,
        epilog="exit codes: 0 done, 1 failed, 2 usage error (unknown bot, bad --risk, no "
        "decisions, no candles)",
    )
    p.add_argument("bot", metavar="BOT", help="the bot whose decisions to replay")
    p.add_argument("--since", metavar="DATE", help="first decision time (UTC date or ms)")
    p.add_argument("--until", metavar="DATE", help="end of the range, exclusive (UTC)")
    p.add_argument(
        "--risk",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change one risk limit (repeatable), e.g. max_position_pct=5; the keys are the "
        "bot's risk limits (oxbot bots show BOT)",
    )
    p.add_argument("--fee-bps", metavar="N", help="fee per fill in basis points (10 = 0.1 %%)")
    p.add_argument("--slippage-bps", metavar="N", help="slippage against each fill, basis points")
    p.add_argument(
        "--csv",
        action="append",
        default=[],
        metavar="SYMBOL=FILE.csv",
        help="the candles of one symbol (repeatable); default: the candle cache",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object (for scripts)")
    p.set_defaults(handler=cmd_replay)


def cmd_replay(args: argparse.Namespace) -> int:
    from decimal import Decimal  # noqa: PLC0415

    from oxbot.app import replay  # noqa: PLC0415
    from oxbot.cli.backtest import _decimal  # noqa: PLC0415
    from oxbot.cli.backtest_bot import _csv_map  # noqa: PLC0415
    from oxbot.engine.backtest.history import parse_date  # noqa: PLC0415
    from oxbot.engine.errors import UsageError  # noqa: PLC0415
    from oxbot.storage.paths import resolve_db_path  # noqa: PLC0415

    since = parse_date(args.since, "--since") if args.since else None
    until = parse_date(args.until, "--until") if args.until else None
    if since is not None and until is not None and until <= since:
        raise UsageError("--until must be after --since")
    fee = (
        _decimal(args.fee_bps, "--fee-bps", maximum=Decimal(999))
        if args.fee_bps is not None
        else None
    )
    slip = (
        _decimal(args.slippage_bps, "--slippage-bps", maximum=Decimal(500))
        if args.slippage_bps is not None
        else None
    )
    report = replay.run_replay(
        resolve_db_path(getattr(args, "db", None)),
        args.bot,
        csv=_csv_map(args.csv),
        since_ms=since,
        until_ms=until,
        risk=args.risk,
        fee_bps=fee,
        slippage_bps=slip,
    )
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        print(render(report))
    if not report.candles_match:  # said again where it is seen last, and in the exit code
        print(f"oxbot: {report.notes[0]}", file=sys.stderr)
        return 1
    return 0


def render(r: ReplayReport) -> str:
    from oxbot.app.backtests import utc  # noqa: PLC0415
    from oxbot.cli.reads import table  # noqa: PLC0415

    changed = ", ".join(f"{k}={v}" for k, v in r.changes.items()) or "none (the stored ones)"
    diff = r.differing
    lines = [n for n in r.notes if n.startswith("WARNING")]
    lines += [
        f"replay of bot {r.bot}: {utc(r.since_ms)} to {utc(r.until_ms)} UTC, "
        f"{len(r.verdicts):,} stored decisions, no model called",
        f"changed limits and costs: {changed}",
        f"verdicts: {len(r.verdicts) - len(diff):,} same, {len(diff):,} different",
    ]
    for v in diff:
        lines.append(f"  {utc(v.ts)}  {v.actions}")
        lines.append(f"    stored:   {v.stored_status or 'hold'}: {v.stored_reasons or '-'}")
        lines.append(f"    replayed: {v.status or 'hold'}: {v.reasons or '-'}")
    rows = [
        ("fills", *(str(len(o.fills)) for o in (r.stored, r.replayed))),
        ("trades", *(str(len(o.trips)) for o in (r.stored, r.replayed))),
        ("final equity", *(f"{o.final_equity:,.2f}" for o in (r.stored, r.replayed))),
        ("return", *(f"{o.return_pct:+.2f}%" for o in (r.stored, r.replayed))),
        ("max drawdown", *(f"{o.max_drawdown_pct:.2f}%" for o in (r.stored, r.replayed))),
        ("trade P&L", *(_pnl(o) for o in (r.stored, r.replayed))),
    ]
    for side, label in (("stored", "only as stored"), ("replayed", "only replayed")):
        trips = r.only(side)
        lines.append(f"trades {label}: {len(trips):,}")
        lines += [f"  {_trip(t)}" for t in trips[:SHOWN]]
        if len(trips) > SHOWN:
            lines.append(f"  ... and {len(trips) - SHOWN:,} more (--json lists every trade)")
    lines += ["", table(("", "AS STORED", "REPLAYED"), rows)]
    lines += [f"note: {n}" for n in r.notes if not n.startswith("WARNING")]
    return "\n".join(lines)


def _trip(t: RoundTrip) -> str:
    from oxbot.app.backtests import utc  # noqa: PLC0415

    return (
        f"{t.symbol} {utc(t.entry_ts)} -> {utc(t.exit_ts)}  qty {t.qty}  "
        f"{t.entry_price} -> {t.exit_price}  P&L {t.pnl:+,.2f} ({t.reason})"
    )


def _pnl(o: Outcome) -> str:
    total = sum((t.pnl for t in o.trips), start=type(o.final_equity)(0))
    return f"{total:+,.2f}"
