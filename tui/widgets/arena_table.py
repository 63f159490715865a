"""The arena's leaderboard: one row per contestant (oxbot.app.arena_model.ContestantResult),
ranked by a SORT_KEYS column (its header marked ▼ or ▲), contestants that could not run last
with their error. The columns a trader reads first (name, return, P&L, Sharpe, max drawdown,
trades) come first, so they fit 80 columns; the rest scroll horizontally."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from oxbot.app.arena_model import ArenaResult, ContestantResult

from ..formatting import money, signed_money, signed_pct
from ..palette import colour

BASELINE_MARK = "◆"  # before the baseline's name, in the table and the chart's legend
NAME_WIDTH = 16  # longer names end in …: the columns after them stay on an 80-column screen
# Ranked best first: a smaller drawdown, fewer fees, dollars and failures are better.
LOWER_IS_BETTER = frozenset({"max_drawdown_pct", "fees", "llm_cost", "failures"})


def _pct(places: int) -> Callable[[Any], str]:
    return lambda v: f"{v:,.{places}f}%"


def _int(v: Any) -> str:
    return f"{v:,}"


def _ratio(v: Any) -> str:
    return f"{v:,.2f}"


def _dollars(v: Any) -> str:
    return f"${money(v)}"


# (field of ContestantResult, header, text of a value that is not None)
COLUMNS: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("return_pct", "return", signed_pct),
    ("pnl", "P&L", signed_money),
    ("sharpe", "Sharpe", _ratio),
    ("max_drawdown_pct", "max DD", _pct(2)),
    ("trades", "trades", _int),
    ("win_rate_pct", "win %", _pct(1)),
    ("fees", "fees", money),
    ("final_equity", "equity", money),
    ("llm_calls", "LLM calls", _int),
    ("tokens", "tokens", _int),
    ("llm_cost", "LLM $", _dollars),
    ("failures", "failures", _int),
    ("calls_saved", "saved", _int),
    ("return_per_dollar", "ret/$", _ratio),
)
TEXT_COLUMNS = (("kind", "kind"), ("label", "what"), ("error", "error"))


def best_first(key: str) -> bool:
    """The sort direction that puts the best contestant on top: descending, except where a
    lower value is better."""
    return key not in LOWER_IS_BETTER


def short_name(row: ContestantResult) -> str:
    name = row.name if len(row.name) <= NAME_WIDTH else row.name[: NAME_WIDTH - 1] + "…"
    return f"{BASELINE_MARK} {name}" if row.kind == "baseline" else name


class ArenaTable(DataTable[Any]):
    """``show(result, key, descending)`` fills it; a click on a sortable header posts
    DataTable.HeaderSelected (the screen sorts by it)."""

    def __init__(self, **kw: Any) -> None:
        # rank and name stay put when the table scrolls sideways to a column off the screen
        super().__init__(cursor_type="row", zebra_stripes=True, fixed_columns=2, **kw)

    def show(self, result: ArenaResult, key: str, descending: bool) -> list[ContestantResult]:
        """The rows in the order shown (sorted_rows: n/a and errors last)."""
        rows = result.sorted_rows(key, descending)
        self.clear(columns=True)
        self.add_column(Text("#", justify="right"), key="rank")
        self.add_column("name", key="name")
        for field, header, _ in COLUMNS:
            label = Text(header, justify="right")
            if field == key:
                label.append(" ▼" if descending else " ▲")
                label.stylize("bold")
            self.add_column(label, key=field)
        for field, header in TEXT_COLUMNS:
            self.add_column(header, key=field)
        up, down = colour(self.app, "pnl-up"), colour(self.app, "pnl-down")
        bad = colour(self.app, "error", "red")
        rank = 0
        for row in rows:
            style = "italic" if row.kind == "baseline" else ""
            ranked = row.error is None and getattr(row, key) is not None  # n/a: unranked, last
            if ranked:
                rank += 1
            cells: list[Any] = [
                Text(str(rank) if ranked else "—", justify="right"),
                Text(short_name(row), style=f"bold {style}" if row.kind != "baseline" else style),
            ]
            for field, _, text in COLUMNS:
                cells.append(self._cell(row, field, text, up, down, bad, style))
            cells.append(Text(row.kind, style="dim"))
            cells.append(Text(row.label, style="dim"))
            cells.append(Text(row.error or "", style=bad))
            self.add_row(*cells, key=row.name)
        if self.row_count:
            self.move_cursor(row=0)
        self.call_after_refresh(self._reveal, key)  # once the columns have their widths
        return rows

    def _reveal(self, key: str) -> None:
        """Scroll sideways so the ranking column shows beside the names (on 80 columns the
        later ones are off the screen)."""
        x = fixed = 0
        for i, column in enumerate(self.ordered_columns):
            width = column.get_render_width(self)
            if i < self.fixed_columns:
                fixed += width
            elif column.key.value == key:
                room = self.scrollable_content_region.width
                if x + width > self.scroll_x + room:
                    self.scroll_to(x=x + width - room, animate=False, immediate=True)
                elif x < self.scroll_x + fixed:
                    self.scroll_to(x=x - fixed, animate=False, immediate=True)
                return
            x += width

    @staticmethod
    def _cell(
        row: ContestantResult,
        field: str,
        text: Callable[[Any], str],
        up: str,
        down: str,
        bad: str,
        style: str,
    ) -> Text:
        if row.error is not None:  # its numbers mean nothing: the error says why
            if field == "return_pct":
                return Text("✖ error", style=f"bold {bad}", justify="right")
            return Text("—", style="dim", justify="right")
        v = getattr(row, field)
        if v is None:
            return Text("n/a", style="dim italic", justify="right")
        if field in ("return_pct", "pnl") and v:
            sign = v > 0 if isinstance(v, float) else v > Decimal(0)
            style = f"{style} {up if sign else down}".strip()
        return Text(text(v), style=style, justify="right")
