"""An arena's leaderboard exported: CSV (the table), JSON (the table, the arena and the equity
curves) and a Markdown report (title, market, period, the table and the equity chart, an SVG
written beside it and linked). Shared by `oxbot arena --out` and the cockpit's Arena screen.

Money is exact decimal text rounded to the quote currency's unit (engine/backtest/export.py
``money``); ratios are rounded to 4 places; a value that does not exist (a Sharpe below the
minimum periods, a win rate without trades) is empty in CSV, null in JSON and n/a in Markdown.
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from oxbot.app.arena_model import ArenaResult

FORMATS = (".csv", ".json", ".md")
# The table's columns: (key, Markdown heading); the SORT_KEYS columns and the rest.
COLUMNS = (
    ("rank", "#"),
    ("name", "contestant"),
    ("kind", "kind"),
    ("label", "what"),
    ("return_pct", "return %"),
    ("pnl", "P&L"),
    ("final_equity", "equity"),
    ("sharpe", "Sharpe"),
    ("max_drawdown_pct", "max DD %"),
    ("win_rate_pct", "win %"),
    ("trades", "trades"),
    ("fees", "fees"),
    ("llm_calls", "LLM calls"),
    ("tokens", "tokens"),
    ("llm_cost", "LLM $"),
    ("failures", "failures"),
    ("calls_saved", "saved"),
    ("return_per_dollar", "return %/$"),
    ("error", "error"),
)
LLM_COLUMNS = ("llm_calls", "tokens", "llm_cost", "failures", "calls_saved", "return_per_dollar")


def _quantum(result: ArenaResult) -> Decimal:
    from oxbot.engine.backtest.export import money_quantum  # noqa: PLC0415

    return money_quantum(result.symbols[0] if result.symbols else "X/USDT")


def _round(v: float | None) -> float | None:
    if v is None:
        return None
    r = round(float(v), 4)
    return 0.0 if r == 0 else r


def table(
    result: ArenaResult, sort: str = "return_pct", descending: bool = True
) -> list[dict[str, Any]]:
    """The leaderboard as JSON-ready rows, ranked by ``sort``; rows where it is n/a and errored
    rows come last, unranked (rank None)."""
    from oxbot.engine.backtest.export import money  # noqa: PLC0415

    q = _quantum(result)
    out = []
    for i, r in enumerate(result.sorted_rows(sort, descending), start=1):
        row: dict[str, Any] = {
            "rank": i if r.error is None and getattr(r, sort) is not None else None,
            "name": r.name,
            "kind": r.kind,
            "label": r.label,
            "return_pct": _round(r.return_pct),
            "pnl": money(r.pnl, q),
            "final_equity": money(r.final_equity, q),
            "sharpe": _round(r.sharpe),
            "max_drawdown_pct": _round(r.max_drawdown_pct),
            "win_rate_pct": _round(r.win_rate_pct),
            "trades": r.trades,
            "fees": money(r.fees, q),
            "llm_calls": r.llm_calls,
            "tokens": r.tokens,
            "llm_cost": f"{r.llm_cost.quantize(Decimal('0.000001')):f}",
            "failures": r.failures,
            "calls_saved": r.calls_saved,
            "return_per_dollar": _round(r.return_per_dollar),
            "error": r.error,
        }
        out.append(row)
    return out


def to_csv(result: ArenaResult, sort: str = "return_pct", descending: bool = True) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([k for k, _ in COLUMNS])
    for row in table(result, sort, descending):
        w.writerow(["" if row[k] is None else row[k] for k, _ in COLUMNS])
    return buf.getvalue()


def to_json(result: ArenaResult, sort: str = "return_pct", descending: bool = True) -> str:
    """The arena (title, market, symbols, timeframe, period, start cash), the ranked table and
    every equity curve (``ts`` ms, ``equity``)."""
    from oxbot.engine.backtest.export import money  # noqa: PLC0415

    doc = {
        "title": result.title,
        "market": result.market,
        "symbols": result.symbols,
        "timeframe": result.timeframe,
        "first_ms": result.first_ms,
        "last_ms": result.last_ms,
        "start_cash": money(result.start_cash, _quantum(result)),
        "sort": sort,
        "notes": result.notes,
        "rows": table(result, sort, descending),
        "curves": [
            {"name": c.name, "ts": c.ts, "equity": [round(v, 8) for v in c.equity]}
            for c in result.curves
        ],
    }
    return json.dumps(doc, indent=1) + "\n"


def _cell(row: dict[str, Any], key: str) -> str:
    v = row[key]
    if v is None:
        return {"rank": "—", "error": ""}.get(key, "n/a")
    if isinstance(v, Decimal):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.2f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v).replace("|", "\\|").replace("\n", " ")


def to_markdown(
    result: ArenaResult,
    sort: str = "return_pct",
    descending: bool = True,
    chart: str | None = None,
) -> str:
    """The report: title, market, period, the table and (``chart``: the SVG's file name, beside
    the report) the equity chart."""
    from oxbot.app.arena import utc_range  # noqa: PLC0415

    rows = table(result, sort, descending)
    llm = any(r.kind == "llm" for r in result.rows)
    keys = [
        k
        for k, _ in COLUMNS
        if (k != "error" or any(r["error"] for r in rows)) and (llm or k not in LLM_COLUMNS)
    ]
    heads = dict(COLUMNS)
    lines = [
        f"# {result.title}",
        "",
        f"- Market: {result.market}, {', '.join(result.symbols)}, {result.timeframe} candles",
        f"- Period: {utc_range(result)}",
        f"- Capital: {_cell({'c': result.start_cash}, 'c')} per contestant, the same candles, "
        "fees and risk limits for all; buy & hold is the baseline",
        f"- Ranked by {sort}{'' if descending else ' (ascending)'}",
        *(f"- **{note}**" for note in result.notes),
        "",
        "| " + " | ".join(heads[k] for k in keys) + " |",
        "|"
        + "|".join("---" if k in ("name", "kind", "label", "error") else "---:" for k in keys)
        + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row, k) for k in keys) + " |")
    if chart:
        lines += ["", f"![equity of every contestant, the baseline dashed]({chart})"]
    lines.append("")
    return "\n".join(lines)


def write(
    result: ArenaResult, path: Path, sort: str = "return_pct", descending: bool = True
) -> list[Path]:
    """``path`` by its suffix (.csv, .json, .md); a Markdown report also writes its chart,
    ``<name>.svg`` beside it. Returns the files written."""
    from oxbot.app.arena_svg import equity_svg  # noqa: PLC0415
    from oxbot.engine.errors import UsageError  # noqa: PLC0415

    suffix = path.suffix.lower()
    if suffix == ".csv":
        path.write_text(to_csv(result, sort, descending), encoding="utf-8")
        return [path]
    if suffix == ".json":
        path.write_text(to_json(result, sort, descending), encoding="utf-8")
        return [path]
    if suffix == ".md":
        svg = path.with_suffix(".svg")
        svg.write_text(equity_svg(result), encoding="utf-8")
        path.write_text(to_markdown(result, sort, descending, svg.name), encoding="utf-8")
        return [path, svg]
    raise UsageError(f"{path}: give a file ending in {', '.join(FORMATS)}")
