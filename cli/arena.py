"""`oxbot arena FILE.toml`: every contestant of an arena file on the same candles with the same
capital (oxbot.app.arena), then the leaderboard, the overlaid equity chart with the buy-and-hold
baseline, and the exports (--out report.md|.csv|.json, --chart equity.svg).

Before an LLM contestant calls a paid model: the estimate of every LLM contestant and their
total, then --max-cost, --yes or a question on a terminal (off a terminal without either flag,
paid models answer from the reply cache only). Import-cheap: `oxbot --help` builds this parser.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

EXAMPLE = """example:
  oxbot arena examples/arena.toml
  oxbot arena my.toml --sort sharpe --out report.md        (report.svg is written beside it)
  oxbot arena my.toml --cache-only --out board.csv          (stored LLM replies only)
  oxbot arena my.toml --max-cost 0.50                       (refused above the estimate)
  oxbot arena live.toml --out board.csv     (market = "live": PAPER bots on live candles)
"""
# The sortable columns (oxbot.app.arena_model SORT_KEYS; kept here so --help stays import-cheap,
# tests/arena checks they are the same).
SORT_CHOICES = (
    "return_pct",
    "pnl",
    "sharpe",
    "max_drawdown_pct",
    "win_rate_pct",
    "trades",
    "fees",
    "llm_calls",
    "tokens",
    "llm_cost",
    "failures",
    "calls_saved",
    "return_per_dollar",
)
ASCENDING = ("max_drawdown_pct", "fees", "llm_cost", "failures", "tokens", "llm_calls")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "arena",
        help="rank strategies and LLM bots on the same candles (an arena .toml file)",
        description="Run every contestant of an arena file (rule strategies, LLM bots, stored\n"
        "bots) on the same market, capital, fees and risk limits, each in its own ledger,\n"
        "with buy & hold as the baseline; print the leaderboard and the equity chart.\n"
        "LLM replies are stored: a rerun is free and gives the same table.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", metavar="FILE.toml", help="the arena file (see examples/arena.toml)")
    p.add_argument(
        "--sort",
        choices=SORT_CHOICES,
        default="return_pct",
        metavar="COL",
        help=f"rank by this column (default return_pct): {', '.join(SORT_CHOICES)}; "
        f"{', '.join(ASCENDING)} rank lowest first",
    )
    p.add_argument(
        "--cache-only",
        action="store_true",
        help="LLM contestants use only the replies stored by earlier runs, never call a model",
    )
    p.add_argument(
        "--max-cost",
        metavar="USD",
        help="refuse to start when the estimate of all LLM contestants' calls is above this",
    )
    p.add_argument(
        "--yes",
        action="store_true",
        help="call paid models without asking (the estimate is printed first)",
    )
    p.add_argument(
        "--out",
        metavar="FILE",
        help="write the leaderboard: .csv, .json (with the equity curves) or .md (a report "
        "with the chart, FILE.svg written beside it)",
    )
    p.add_argument("--chart", metavar="FILE.svg", help="write the equity chart as an SVG file")
    p.set_defaults(handler=run_arena_command)


def _check_outputs(args: argparse.Namespace) -> tuple[Any, Any]:
    from pathlib import Path  # noqa: PLC0415

    from oxbot.app.arena_export import FORMATS  # noqa: PLC0415
    from oxbot.engine.backtest.export import check_writable  # noqa: PLC0415
    from oxbot.engine.errors import UsageError  # noqa: PLC0415

    out = chart = None
    if args.out is not None:
        if Path(args.out).suffix.lower() not in FORMATS:
            raise UsageError(
                f"--out {args.out}: give a file ending in .csv, .json or .md, e.g. --out report.md"
            )
        out = check_writable(args.out)
        if out is None:
            raise UsageError("--out needs a file name (.csv, .json or .md), not '-'")
        if out.suffix.lower() == ".md":  # the report's chart, written beside it
            check_writable(str(out.with_suffix(".svg")))
    if args.chart is not None:
        if Path(args.chart).suffix.lower() != ".svg":
            raise UsageError(f"--chart {args.chart}: give a file ending in .svg")
        chart = check_writable(args.chart)
        if chart is None:
            raise UsageError("--chart needs a file name ending in .svg, not '-'")
    return out, chart


def _refuse_inputs(spec: Any, *outputs: Any) -> None:
    """UsageError when --out (or the SVG beside a report) or --chart would overwrite the arena
    file or one of its candle files."""
    from pathlib import Path  # noqa: PLC0415

    from oxbot.engine.errors import UsageError  # noqa: PLC0415

    inputs = [Path(spec.path), *(Path(f) for f in spec.csv.values())]
    for out in outputs:
        if out is None:
            continue
        targets = [out] + ([out.with_suffix(".svg")] if out.suffix.lower() == ".md" else [])
        for target in targets:
            for given in inputs:
                if target.resolve() == given.resolve():
                    raise UsageError(
                        f"{target}: is an input of the arena ({given.name}); "
                        "write to another file name"
                    )


def run_arena_command(args: argparse.Namespace) -> int:
    from pathlib import Path  # noqa: PLC0415

    from oxbot.app import arena  # noqa: PLC0415
    from oxbot.cli.backtest import Progress  # noqa: PLC0415

    out, chart = _check_outputs(args)
    db = Path(args.db).expanduser() if getattr(args, "db", None) else None
    spec = arena.load_arena(args.file, db=db)
    _refuse_inputs(spec, out, chart)
    if spec.market == "live":
        result = _run_live(spec, _live_leave(args, spec), args.sort)
        return _finish(result, spec, args, out, chart)
    frames = arena.load_frames(spec)
    opts = _llm_leave(args, spec, frames)
    progress = Progress(enabled=sys.stderr.isatty())

    shown = [-1.0, -1]

    def tell(r: Any) -> None:  # from the arena's threads, one at a time; redrawn per 0.2 %
        if r.fraction - shown[0] < 0.002 and r.done == shown[1]:
            return
        shown[:] = [r.fraction, r.done]
        label = f"{r.done}/{r.total}" + (f" ${r.spent_now:.4f}" if r.spent_now else "")
        progress.update(label, r.fraction)

    try:
        result = arena.run_arena(spec, progress=tell, options=opts, frames=frames)
    finally:
        progress.done()
    return _finish(result, spec, args, out, chart)


def _live_leave(args: argparse.Namespace, spec: Any) -> bool:
    """Whether LLM contestants may call paid models live: --yes, or a question on a terminal
    (there is no estimate: the calls depend on the live market)."""
    from oxbot.app.arena_live import paid_contestants  # noqa: PLC0415
    from oxbot.engine.errors import UsageError  # noqa: PLC0415

    if args.cache_only:
        raise UsageError("--cache-only: a live arena has no reply cache; drop it")
    if args.max_cost is not None:
        raise UsageError(
            "--max-cost: a live arena has no estimate (its calls follow the market); use --yes"
        )
    names = paid_contestants(spec)
    if not names or args.yes:
        return True
    if not sys.stdin.isatty():
        return False  # refused with the reason by the runner
    print(f"{', '.join(names)} call paid models live, for {spec.live.duration}.", file=sys.stderr)
    if input("Call them? [y/N] ").strip().lower() not in ("y", "yes"):
        raise UsageError("not started: no model was called")
    return True


def _run_live(spec: Any, paid: bool, sort: str) -> Any:
    """market = "live": the leaderboard redrawn on each board (on a terminal), Ctrl-C or the
    end of the duration stops the engine and returns the final board."""
    import signal  # noqa: PLC0415
    import threading  # noqa: PLC0415

    from oxbot.app import arena  # noqa: PLC0415

    cancel = threading.Event()
    tty = sys.stdout.isatty()
    print(
        f"live arena on {spec.live.exchange}: {len(spec.contestants)} PAPER bots for "
        f"{spec.live.duration}; Ctrl-C stops it and prints the final board"
        + (
            "; LLM contestants call their models live (no reply cache)"
            if any(c.kind == "llm" for c in spec.contestants)
            else ""
        ),
        file=sys.stderr,
    )

    def tell(r: Any) -> None:
        if tty:  # the board again, in place
            done = f"{r.fraction * 100:.0f}% of {spec.live.duration}"
            board = render_table(r, sort, sort not in ASCENDING, _width())
            print("\x1b[H\x1b[2J" + board, flush=True)
            print(f"live · {done} · Ctrl-C stops", flush=True)

    def stop(_sig: int, _frame: Any) -> None:
        cancel.set()

    main = threading.current_thread() is threading.main_thread()
    old = signal.signal(signal.SIGINT, stop) if main else None
    try:
        opts = arena.ArenaOptions(cancel=cancel, paid=paid)
        return arena.run_arena(spec, progress=tell, options=opts)
    finally:
        if main:
            signal.signal(signal.SIGINT, old)


def _finish(result: Any, spec: Any, args: argparse.Namespace, out: Any, chart: Any) -> int:
    """The final leaderboard, the chart and the exports."""
    color = sys.stdout.isatty()
    width = _width()
    descending = args.sort not in ASCENDING
    written = _write(result, args, out, chart, descending)  # before stdout (| head may close it)
    print(render_table(result, args.sort, descending, width))
    print()
    print(equity_chart(result, width=min(width, 120), color=color))
    if any(c.kind == "llm" for c in spec.contestants):
        print(
            f"LLM: {result.calls_now:,} model calls now, ${result.spent_now:.4f} spent now "
            "(the other replies came from the reply cache or a local rule set)"
        )
    for note in result.notes:
        print(note)
    for line in written:
        print(line)
    ran = [r for r in result.rows if r.kind != "baseline" and r.error is None]
    return 0 if ran else 1


def _write(
    result: Any, args: argparse.Namespace, out: Any, chart: Any, descending: bool
) -> list[str]:
    """Write --out and --chart; the lines that say so (printed after the table)."""
    from oxbot.app import arena_export  # noqa: PLC0415
    from oxbot.app.arena_svg import equity_svg  # noqa: PLC0415

    said = []
    if out is not None:
        written = arena_export.write(result, out, args.sort, descending)
        said.append("wrote " + ", ".join(str(p) for p in written))
    if chart is not None:
        chart.write_text(equity_svg(result), encoding="utf-8")
        said.append(f"wrote {chart}")
    return said


def _width() -> int:
    import shutil  # noqa: PLC0415

    return max(60, shutil.get_terminal_size((100, 24)).columns)


def _llm_leave(args: argparse.Namespace, spec: Any, frames: Any) -> Any:
    """The estimate of every LLM contestant (stderr), then the leave to call paid models."""
    from decimal import Decimal  # noqa: PLC0415

    from oxbot.app import arena  # noqa: PLC0415
    from oxbot.cli.backtest import _decimal  # noqa: PLC0415
    from oxbot.engine.errors import UsageError  # noqa: PLC0415

    opts = arena.ArenaOptions(cache_only=args.cache_only)
    if args.cache_only:
        return opts
    cap = _decimal(args.max_cost, "--max-cost") if args.max_cost is not None else None
    ests = arena.estimates(spec, frames)
    for name, est in ests:
        print(f"{name}: {est.line()}", file=sys.stderr)
    paid = [e for _, e in ests if not e.free and e.points > 0]
    if not paid:
        return opts
    total = sum((e.usd for e in paid), Decimal(0))
    unpriced = [e.model for e in paid if not e.priced]
    print(
        f"LLM estimate over all contestants: ~${total:.4f}"
        + (f" (prices unknown: {', '.join(unpriced)})" if unpriced else ""),
        file=sys.stderr,
    )
    if cap is not None and unpriced:  # an unknown price is not $0: --max-cost cannot hold
        raise UsageError(
            f"--max-cost {args.max_cost}: the price of {', '.join(unpriced)} is unknown, so "
            "the cost cannot be held to it: give its price (prices = { MODEL = [IN, OUT] } in "
            "USD per 1M tokens, in the contestant), or drop --max-cost and use --yes"
        )
    if cap is not None and total > cap:
        raise UsageError(
            f"the estimate ${total:.4f} is above --max-cost {args.max_cost}: raise it, "
            "shorten the range (since/until in the file), or use --cache-only"
        )
    if cap is not None or args.yes:
        opts.paid = True
        return opts
    if not sys.stdin.isatty():  # no one to ask: stored replies only for the paid models
        print(
            "paid models answer from the reply cache only (no --yes or --max-cost USD)",
            file=sys.stderr,
        )
        return opts
    answer = input("Call the models at this cost? [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise UsageError("not started: no model was called")
    opts.paid = True
    return opts


# ---------------------------------------------------------------------------- the table

# (key, heading, width, priority): the columns a narrower terminal keeps come first.
_COLUMNS = (
    ("rank", "#", 2, 0),
    ("name", "contestant", 16, 0),
    ("return_pct", "return", 8, 0),
    ("pnl", "P&L", 11, 0),
    ("sharpe", "Sharpe", 7, 0),
    ("max_drawdown_pct", "maxDD", 6, 0),
    ("trades", "trades", 7, 0),
    ("win_rate_pct", "win", 6, 1),
    ("fees", "fees", 9, 1),
    ("llm_calls", "calls", 6, 2),
    ("llm_cost", "LLM $", 8, 2),
    ("tokens", "tokens", 9, 3),
    ("failures", "fail", 5, 3),
    ("calls_saved", "saved", 6, 3),
    ("return_per_dollar", "ret/$", 7, 3),
)


def _fmt(key: str, row: dict[str, Any], is_llm: bool) -> str:
    v = row[key]
    if key in ("llm_calls", "tokens", "llm_cost", "failures", "calls_saved", "return_per_dollar"):
        if not is_llm:
            return "-"
    if v is None:
        return "—" if key == "rank" else "n/a"
    if key in ("return_pct", "max_drawdown_pct", "win_rate_pct"):
        return f"{v:+.2f}%" if key == "return_pct" else f"{v:.1f}%"
    if key in ("sharpe", "return_per_dollar"):
        return f"{v:.2f}"
    if key in ("pnl", "fees"):
        from decimal import Decimal  # noqa: PLC0415

        d = Decimal(v)
        return f"{d:+,.2f}" if key == "pnl" else f"{d:,.2f}"
    if key == "llm_cost":
        from decimal import Decimal  # noqa: PLC0415

        return f"{Decimal(v):.4f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def render_table(result: Any, sort: str, descending: bool, width: int) -> str:
    """The leaderboard, ranked by ``sort``, in ``width`` columns: the columns that do not fit
    are left out (the footer says which, and that --out has them all)."""
    from oxbot.app.arena import utc_range  # noqa: PLC0415
    from oxbot.app.arena_export import table  # noqa: PLC0415

    rows = table(result, sort, descending)
    kinds = {r.name: r.kind for r in result.rows}
    any_llm = any(k == "llm" for k in kinds.values())
    cols, used, left_out = [], 0, []
    candidates = [c for c in _COLUMNS if c[3] < 2 or any_llm or c[0] == sort]
    sort_w = next((w + 1 for k, _h, w, _p in candidates if k == sort), 0)
    for key, head, w, _prio in candidates:
        need = w + (1 if cols else 0)
        room = width - (0 if key == sort or any(k == sort for k, _h, _w in cols) else sort_w)
        if key == sort or used + need <= room:  # the ranking column always shows
            cols.append((key, head, w))
            used += need
        else:
            left_out.append(head)
    lines = [
        f"{result.title} · {result.market} · {', '.join(result.symbols)} {result.timeframe}",
        f"{utc_range(result)} · capital {result.start_cash:,} each",
    ]
    lines = [ln if len(ln) <= width else ln[: width - 1] + "…" for ln in lines] + [""]

    def line(cells: list[str]) -> str:
        out = []
        for (key, _h, w), cell in zip(cols, cells, strict=True):
            if len(cell) > w:
                cell = cell[: w - 1] + "…"
            out.append(cell.ljust(w) if key == "name" else cell.rjust(w))
        return " ".join(out).rstrip()

    mark = {True: "▼", False: "▲"}[descending]
    lines.append(line([h + (mark if k == sort else "") for k, h, _w in cols]))
    lines.append(line(["─" * w for _k, _h, w in cols]))
    errors = []
    for row in rows:
        is_llm = kinds.get(row["name"]) == "llm"
        if row["error"] is not None:
            cells = [_fmt(k, row, is_llm) if k == "name" else "" for k, _h, _w in cols]
            if len(cols) > 2:
                cells[2] = "error"
            errors.append(f"  {row['name']}: {row['error']}")
        else:
            cells = [_fmt(k, row, is_llm) for k, _h, _w in cols]
            if kinds.get(row["name"]) == "baseline":
                cells[1] = (row["name"] + " (base)")[:16]
        lines.append(line(cells))
    if left_out:
        lines.append(
            _wrap(
                f"(not shown at this width: {', '.join(left_out)}; --out FILE.csv has all)", width
            )
        )
    flaky = [r for r in rows if r["error"] is None and r["failures"]]
    for row in flaky:  # a HOLD for want of an answer is not the model's trading (adversary F21)
        n = row["failures"]
        lines.append(
            _wrap(
                f"{row['name']}: {n:,} failed repl{'y' if n == 1 else 'ies'} held instead of "
                "deciding; its result is partly the failures', not the model's",
                width,
            )
        )
    if errors:
        lines.append("could not run:")
        lines += [_wrap(e, width, indent="    ") for e in errors]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- the chart

MARKERS = ("•", "+", "x", "o", "*", "#", "@", "%", "&", "$")
COLOURS = ("blue", "red", "green", "orange", "magenta", "cyan", "yellow", "violet")


def equity_chart(result: Any, width: int = 100, height: int = 20, color: bool = False) -> str:
    """Every contestant's equity over the shared decision times, drawn with plotext: one
    marker (and colour) per contestant, the baseline as dots (gray), and a legend below."""
    import numpy as np  # noqa: PLC0415
    import plotext as plt  # noqa: PLC0415

    from oxbot.app.plot_order import stable_plotext  # noqa: PLC0415
    from oxbot.cli.backtest_report import _ticks  # noqa: PLC0415

    stable_plotext()
    kinds = {r.name: r.kind for r in result.rows}
    curves = [c for c in result.curves if c.ts]
    if not curves:
        return "(no equity curve: no contestant ran)"
    plt.clear_figure()
    plt.limitsize(False, False)
    plt.plotsize(width, height)
    plt.theme("pro" if color else "clear")
    legend = []
    k = 0
    for c in curves:
        ts = np.asarray(c.ts, dtype=np.float64)
        eq = np.asarray(c.equity, dtype=np.float64)
        idx = np.unique(np.linspace(0, len(ts) - 1, num=min(len(ts), width * 2)).astype(np.int64))
        if kinds.get(c.name) == "baseline":
            marker, colour = "·", "gray"
        else:
            marker, colour = MARKERS[k % len(MARKERS)], COLOURS[k % len(COLOURS)]
            k += 1
        plt.plot(ts[idx].tolist(), eq[idx].tolist(), marker=marker, color=colour)
        legend.append(f"{marker} {c.name}" + (f" ({colour})" if color else ""))
    span = np.asarray([min(c.ts[0] for c in curves), max(c.ts[-1] for c in curves)])
    if span[1] > span[0]:
        plt.xticks(*_ticks(span))
    plt.title("equity of each contestant (marked at each close)")
    plt.xlabel("date (UTC)")
    text: str = plt.build()
    text = text if color else plt.uncolorize(text)
    return text + "\n" + _wrap("lines: " + "   ".join(legend), width, "       ")


def _wrap(text: str, width: int, indent: str = "       ") -> str:
    import textwrap  # noqa: PLC0415

    return "\n".join(textwrap.wrap(text, width, subsequent_indent=indent))
