"""Open positions of the selected bot (or of every bot).

Columns are chosen from the table's own width: what does not fit is left out whole (Mark
first, then Entry: the unrealised P&L already says how the price moved) rather than cutting
SL/TP off at the right edge. Widths follow the rows shown, so they shrink again when rows go
away.

A purpose-built line widget, drawn like a DataTable with zebra stripes (the same component
classes and colours) but without its costs: a DataTable was cleared and rebuilt on every
change, and rendered every cell again (3-14 ms per selection change, felt on j/k). Here each
row is one Text rendered once and its line cached until its cells change, and a change of the
rows repaints this panel alone (no layout pass of the screen: no_layout_scroll.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.color import Color
from textual.events import Resize
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from .. import formatting as fmt
from ..palette import colour
from .no_layout_scroll import NoLayoutVirtualSize

if TYPE_CHECKING:  # annotations only: the engine's messages load after the first frame
    from oxbot.engine.messages import PositionView

COLUMNS = (
    ("bot", "Bot"),
    ("symbol", "Symbol"),
    ("qty", "Qty"),
    ("entry", "Entry"),
    ("mark", "Mark"),
    ("upnl", "uP&L"),
    ("sl", "SL"),
    ("tp", "TP"),
)
DROP_ORDER = ("mark", "entry", "qty")  # left out, in this order, when the panel is narrow
CELL_PAD = 2  # one space on each side of a cell, as a DataTable's cell_padding of 1
NOT_WATCHED = "not watched"
RIGHT = frozenset({"qty", "entry", "mark", "upnl", "sl", "tp"})

Cell = tuple[str, str]  # text, colour ("" = the row's)


class PositionsTable(NoLayoutVirtualSize, ScrollView, can_focus=True):
    """A header line, then one line per position; the arrows scroll it when it has focus."""

    COMPONENT_CLASSES = {"datatable--header", "datatable--even-row", "datatable--odd-row"}
    # DataTable's own rules for these (textual/widgets/_data_table.py), so the panel looks
    # the same as when it was one.
    DEFAULT_CSS = """
    PositionsTable {
        background: $surface;
        color: $foreground;
        &:focus {
            background-tint: $foreground 5%;
            & > .datatable--header {
                background-tint: $foreground 5%;
            }
        }
        &:dark {
            & > .datatable--even-row {
                background: $surface-darken-1 40%;
            }
        }
        & > .datatable--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .datatable--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .datatable--even-row {
            background: $surface-lighten-1 50%;
        }
    }
    """

    def __init__(
        self,
        *,
        id: str | None = None,  # noqa: A002 - Textual's name
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self._last: tuple[list[PositionView], bool, frozenset[str]] = ([], True, frozenset())
        self._width = 0
        self._keys: tuple[str, ...] = ()
        self._widths: tuple[int, ...] = ()
        self._rows: list[dict[str, Cell]] = []
        self._cache: dict[tuple[object, ...], Strip] = {}

    @property
    def row_count(self) -> int:
        return len(self._rows)

    @property
    def columns(self) -> tuple[str, ...]:
        """The keys of the columns shown, left to right."""
        return self._keys

    def on_resize(self, event: Resize) -> None:
        if event.size.width != self._width:
            self._width = event.size.width
            self.show(self._last[0], all_bots=self._last[1], unwatched=self._last[2])

    def show(
        self,
        positions: list[PositionView],
        *,
        all_bots: bool,
        unwatched: frozenset[str] = frozenset(),
    ) -> None:
        """All bots: a Bot column first; one bot: its name is in the panel title already.
        Positions of the bots in ``unwatched`` (stopped, in error, or their engine gone) show
        SL/TP as "not watched": nothing sells at those levels until the bot runs again."""
        self._last = (positions, all_bots, unwatched)
        rows = [self._cells(p, p.bot in unwatched) for p in positions]
        keys = [k for k, _ in COLUMNS if all_bots or k != "bot"]
        widths = {
            k: max([len(label)] + [len(r[k][0]) for r in rows]) + CELL_PAD for k, label in COLUMNS
        }
        room = self.size.width - 1  # one column for the vertical scrollbar when it shows
        for drop in DROP_ORDER:
            if sum(widths[k] for k in keys) <= room:
                break
            keys.remove(drop)
        shown = (tuple(keys), tuple(widths[k] for k in keys))
        if rows == self._rows and shown == (self._keys, self._widths):
            return
        self._rows = rows
        self._keys, self._widths = shown
        if len(self._cache) > 500:
            self._cache.clear()
        self.virtual_size = Size(sum(self._widths), len(rows) + 1)
        self.refresh()

    def _cells(self, p: PositionView, unwatched: bool = False) -> dict[str, Cell]:
        def level(price: object) -> Cell:
            if unwatched and price is not None:
                return (NOT_WATCHED, colour(self.app, "warning"))
            return (fmt.price(price), "")  # type: ignore[arg-type]

        return {
            "bot": (p.bot, ""),
            "symbol": (fmt.short_symbol(p.symbol), ""),
            "qty": (fmt.qty(p.qty), ""),
            "entry": (fmt.price(p.entry), ""),
            "mark": (fmt.price(p.mark), ""),
            "upnl": (
                fmt.signed_money(p.unrealised),
                colour(self.app, fmt.pnl_variable(p.unrealised)),
            ),
            "sl": level(p.stop_loss),
            "tp": level(p.take_profit),
        }

    # ------------------------------------------------------------------ rendering

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y == 0:
            cells: tuple[Cell, ...] | None = None
            component = "datatable--header"
        else:
            row = self.scroll_offset.y + y - 1
            if row >= len(self._rows):
                return Strip.blank(width, base)
            cells = tuple(self._rows[row][k] for k in self._keys)
            component = "datatable--odd-row" if row % 2 else "datatable--even-row"
        row_style = self.get_component_rich_style(component)
        key = (cells, component, row_style, base, width, self._keys, self._widths)
        strip = self._cache.get(key)
        if strip is None:
            strip = self._cache[key] = self._line(cells, base, row_style, width)
        return strip

    def _line(
        self, cells: tuple[Cell, ...] | None, base: Style, row_style: Style, width: int
    ) -> Strip:
        labels = dict(COLUMNS)
        text = Text(no_wrap=True, overflow="crop", end="")
        for k, w, i in zip(self._keys, self._widths, range(len(self._keys)), strict=True):
            if cells is None:  # the header: labels on the left, as a DataTable's
                text.append(" " + labels[k].ljust(w - CELL_PAD) + " ")
                continue
            value, style = cells[i]
            value = value.rjust(w - CELL_PAD) if k in RIGHT else value.ljust(w - CELL_PAD)
            text.append(" " + value + " ", Style.parse(style) if style else None)
        segments = Segment.apply_style(list(text.render(self.app.console)), base + row_style)
        # Past the last column the row's colour goes on, faded, as a DataTable draws it.
        rest = max(0, width - sum(self._widths))
        if row_style.bgcolor is not None:
            faded = Color.from_rich_color(row_style.bgcolor).blend(
                self.background_colors[1], factor=0.25
            )
            extend = Style.from_color(row_style.color, faded.rich_color)
        else:
            extend = Style.from_color(row_style.color, row_style.bgcolor)
        segments = [*segments, Segment(" " * rest, base + extend)]
        return Strip(segments).crop_extend(0, width, base).simplify()
