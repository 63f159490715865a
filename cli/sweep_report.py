"""A sweep's result as the terminal shows it (a table, in-sample beside held-out); the --out
export is oxbot.app.sweep_export's, shared with the cockpit (CSV: one line per row; JSON:
SweepResult.to_json())."""

from __future__ import annotations

from typing import Any

from oxbot.app.backtests import utc
from oxbot.app.sweep_export import csv_rows, write_out
from oxbot.engine.backtest.sweep import OBJECTIVES, SweepResult, skipped_text, unranked

__all__ = ["csv_rows", "render", "write_out"]

LABELS = {
    "sharpe": "sharpe",
    "sortino": "sortino",
    "calmar": "calmar",
    "profit_factor": "prof.f",
    "return_pct": "return %",
    "trades": "trades",
    "max_drawdown_pct": "max DD %",
}


def columns(result: SweepResult) -> list[str]:
    """The metric columns of each side: the objective first, then return, trades, drawdown."""
    first = OBJECTIVES[result.objective]
    return list(dict.fromkeys([first, "return_pct", "trades", "max_drawdown_pct"]))


def cell(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.2f}" if abs(v) >= 0.01 or v == 0 else f"{v:.4g}"
    return str(v)


def render(result: SweepResult, top: int = 10) -> str:
    keys = columns(result)
    wf = bool(result.folds)
    lines = [_title(result), *_windows(result)]
    noun = "combinations" if result.mode == "grid" else "trials"
    skipped = skipped_text(result.skipped, result.total, noun)
    if skipped:
        lines.append(skipped)
    failed = skipped_text(result.failed, result.total, noun, "failed")
    if failed:
        lines.append(failed)
    head = ["fold", "train", "held out"] if wf else ["#"]
    head += result.param_names
    n_lead = len(head)
    head += [LABELS[k] for k in keys] + [LABELS[k] for k in keys]
    body = []
    rows = result.rows if wf else result.rows[:top]
    folds = {f.index: f for f in result.folds}
    for i, row in enumerate(rows, 1):
        if wf:
            f = folds[row.fold or 0]
            lead = [
                str((row.fold or 0) + 1),
                f"{utc(f.train_ts[0], '%Y-%m-%d')}..{utc(f.train_ts[1], '%Y-%m-%d')}",
                f"{utc(f.test_ts[0], '%Y-%m-%d')}..{utc(f.test_ts[1], '%Y-%m-%d')}",
            ]
        else:
            lead = [str(i)]
        lead += [_param(row.params.get(n)) for n in result.param_names]
        body.append(lead + _side(row.in_sample, keys) + _side(row.held_out, keys))
    widths = [max(len(r[c]) for r in [head, *body]) for c in range(len(head))]
    side_w = sum(widths[n_lead : n_lead + len(keys)]) + 2 * (len(keys) - 1)
    lead_w = sum(widths[:n_lead]) + 2 * (n_lead - 1)
    lines.append("")
    lines.append(
        " " * lead_w + " │ " + "in-sample".center(side_w) + " │ " + "held-out".center(side_w)
    )
    for r in [head, *body]:
        cells = [
            r[c].ljust(widths[c]) if c < n_lead and c > 0 and wf else r[c].rjust(widths[c])
            for c in range(len(r))
        ]
        lines.append(
            "  ".join(cells[:n_lead])
            + " │ "
            + "  ".join(cells[n_lead : n_lead + len(keys)])
            + " │ "
            + "  ".join(cells[n_lead + len(keys) :])
        )
    if not wf and len(result.rows) > top:
        lines.append(f"… {len(result.rows) - top} more rows (--top N, or --out FILE for all)")
    warning = unranked(result)
    if warning:
        lines.append(warning)
    if result.combined is not None:
        c = result.combined
        key = OBJECTIVES[result.objective]
        mean = "" if key == "return_pct" else f", mean {LABELS[key]} {cell(c.get(key))}"
        have = c.get("objective_folds", c["folds"])
        if key != "return_pct" and have < c["folds"]:
            mean += f" (n/a in {c['folds'] - have} of {c['folds']} folds)"
        folds = f"{c['folds']} fold{'s' if c['folds'] != 1 else ''}"
        lines.append(
            f"combined held-out ({folds} chained): return {cell(c['return_pct'])} %, "
            f"{c['trades']} trades, worst fold drawdown {cell(c['max_drawdown_pct'])} %{mean}"
        )
    return "\n".join(lines)


def _param(v: Any) -> str:
    """A parameter as given: ints whole, floats to 6 significant digits (not rounded to 2)."""
    return f"{v:.6g}" if isinstance(v, float) else cell(v)


def _side(m: dict[str, Any] | None, keys: list[str]) -> list[str]:
    if m is None:
        return ["-"] * len(keys)
    return [cell(m.get(k)) for k in keys]


def _title(result: SweepResult) -> str:
    what = (
        f"{result.total} combinations"
        if result.mode == "grid"
        else f"{result.total} trials (optuna TPE, seed {result.seed}"
        + (
            f"; {result.total - result.repeats} distinct sets, {result.repeats} repeats "
            "answered from the set already run)"
            if result.repeats
            else ")"
        )
    )
    fixed = "".join(f", {k}={_param(v)}" for k, v in result.fixed.items())
    return (
        f"{result.strategy} {result.mode}: {what}{fixed} on {result.source} ({result.symbol}), "
        f"ranked by in-sample {LABELS[OBJECTIVES[result.objective]]}, n/a last"
    )


def _windows(result: SweepResult) -> list[str]:
    if result.folds:
        return [
            f"walk-forward: {len(result.folds)} folds, each optimised on its train window and "
            "scored on the window after it (never seen by its search)"
        ]
    if result.split_ts is None:
        return []
    return [
        f"search window {utc(result.first_ts)} → before {utc(result.split_ts)}; held out "
        f"(never seen by the search): {utc(result.split_ts)} → {utc(result.last_ts)} "
        f"({result.holdout})"
    ]
