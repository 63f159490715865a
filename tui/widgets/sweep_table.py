"""A sweep's table: one row per parameter set, best first by the in-sample objective (n/a
last, as SweepResult keeps them), the held-out columns always beside the in-sample ones so a
set that only fits the past shows it. Walk-forward: one row per fold (its best set)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from oxbot.engine.backtest.sweep import OBJECTIVES, SweepResult

from ..palette import colour

LABELS = {
    "return_pct": "return %",
    "sharpe": "sharpe",
    "sortino": "sortino",
    "calmar": "calmar",
    "profit_factor": "prof. f.",
    "trades": "trades",
}
SIDES = (("in_sample", "in-sample"), ("held_out", "held-out"))


def metric_keys(result: SweepResult) -> list[str]:
    """Each side's columns: return, Sharpe, the objective (when it is neither), trades."""
    return list(dict.fromkeys(["return_pct", "sharpe", OBJECTIVES[result.objective], "trades"]))


def number(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.2f}"
    return str(v)


def param_text(v: Any) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


class SweepTable(DataTable[Any]):
    """``show(result)`` fills it; the objective's columns are bold, held-out ones after a bar."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, header_height=2, **kw)
        self.result: SweepResult | None = None

    def show(self, result: SweepResult) -> None:
        self.result = result
        self.clear(columns=True)
        keys = metric_keys(result)
        objective = OBJECTIVES[result.objective]
        wf = bool(result.folds)
        self.add_column(Text("\nfold" if wf else "\n#", justify="right"), key="rank")
        for name in result.param_names:
            self.add_column(Text(f"\n{name}", justify="right"), key=f"p:{name}")
        for side, title in SIDES:
            if side == "held_out":
                self.add_column(Text("\n│"), key="bar")
            for i, k in enumerate(keys):
                label = Text(f"{title if i == 0 else ''}\n{LABELS[k]}", justify="right")
                if k == objective:
                    label.stylize("bold")
                self.add_column(label, key=f"{side}:{k}")
        up, down = colour(self.app, "pnl-up"), colour(self.app, "pnl-down")
        for i, row in enumerate(result.rows, 1):
            cells: list[Any] = [Text(str((row.fold or 0) + 1 if wf else i), justify="right")]
            cells += [
                Text(param_text(row.params.get(n)), justify="right") for n in result.param_names
            ]
            for side, _ in SIDES:
                if side == "held_out":
                    cells.append(Text("│", style="dim"))
                m = getattr(row, side)
                for k in keys:
                    v = None if m is None else m.get(k)
                    style = "dim italic" if v is None else ""
                    if k == "return_pct" and isinstance(v, int | float) and v:
                        style = up if v > 0 else down
                    if k == objective and v is not None:
                        style = f"bold {style}".strip()
                    cells.append(Text(number(v), style=style, justify="right"))
            self.add_row(*cells, key=str(i))
        if self.row_count:
            self.move_cursor(row=0)
