"""`oxbot audit [BOT ...] [--hours 24] [--json]`: the five checks of app/audit.py per bot, as a
PASS/FAIL table with the figures. Exit 0 only when every check of every bot passes, 1 when one
fails, 2 for a usage error (an unknown bot, a bad --hours). Reads the database read-only; works
with or without an engine running."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from oxbot.cli import bots as cli_bots

if TYPE_CHECKING:
    from oxbot.app.audit import BotAudit

EXIT_CODES = "exit codes: 0 every check passed, 1 a check failed, 2 usage error"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "audit",
        epilog=EXIT_CODES,
        help="check bots over a period: no crashes, SL/TP triggers, capital drift, "
        "max holding time, cycles (PASS/FAIL)",
        description="Check each bot (every bot when none is named) over the last HOURS: no "
        "crashes (error state or recorded errors), SL/TP triggers > 0 (or no position opened), "
        "capital drift < 0.01 (cash recomputed from fills vs the stored cash) and open "
        "positions as the fills give them, every position held within the bot's maximum "
        "holding time (+ 1 candle), at least 10 cycles completed. The period and holding times "
        "are on each bot's own clock (its newest equity sample or fill).",
    )
    p.add_argument("bots", nargs="*", metavar="BOT", help="bots to audit (default: every bot)")
    p.add_argument(
        "--hours",
        type=float,
        default=24.0,
        help="the period, in hours back from the bot's newest sample (default 24)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object (for scripts)")
    p.set_defaults(handler=cmd_audit)


def cmd_audit(args: argparse.Namespace) -> int:
    from oxbot.app import audit  # noqa: PLC0415
    from oxbot.engine.errors import UsageError  # noqa: PLC0415

    if not 0 < args.hours <= 24 * 366:
        raise UsageError("--hours must be more than 0 and at most 8784 (a year)")
    results = audit.audit_db(cli_bots._db(args), args.bots, args.hours)  # noqa: SLF001
    if args.json:
        print(json.dumps(audit.to_json(results, args.hours), indent=2))
    else:
        print(render(results, args.hours))
    return 0 if audit.all_passed(results) else 1


def render(results: Sequence[BotAudit], hours: float) -> str:
    from oxbot.cli.reads import table  # noqa: PLC0415

    if not results:
        return "no bots to audit"
    rows = [
        (r.bot, c.name, "PASS" if c.passed else "FAIL", c.figure) for r in results for c in r.checks
    ]
    verdict = [f"{r.bot}: {'PASS' if r.passed else 'FAIL'}" for r in results]
    head = f"audit of the last {hours:g} h"
    return "\n".join([head, table(("BOT", "CHECK", "RESULT", "FIGURE"), rows), "", *verdict])
