"""Open positions of the selected bot (or of every bot).

Columns are chosen from the table's own width: what does not fit is left out whole (Mark
first, then Entry: the unrealised P&L already says how the price moved) rather than cutting
SL/TP off at the right edge. Columns are rebuilt on every change, so widths shrink again when
rows go away.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.events import Resize
from textual.widgets import DataTable

from .. import formatting as fmt
from ..palette import colour

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
CELL_PAD = 2  # DataTable's cell_padding of 1 on each side
NOT_WATCHED = "not watched"


class PositionsTable(DataTable[str | Text]):
    def on_mount(self) -> None:
        self.cursor_type = "none"
        self.zebra_stripes = True
        self._last: tuple[list[PositionView], bool, frozenset[str]] = ([], True, frozenset())
        self._width = 0

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
            k: max([len(label)] + [len(r[k].plain) for r in rows]) + CELL_PAD
            for k, label in COLUMNS
        }
        room = self.size.width - 1  # one column for the vertical scrollbar when it shows
        for drop in DROP_ORDER:
            if sum(widths[k] for k in keys) <= room:
                break
            keys.remove(drop)
        self.clear(columns=True)
        labels = dict(COLUMNS)
        for k in keys:
            self.add_column(labels[k], key=k)
        for r in rows:
            self.add_row(*(r[k] for k in keys))

    def _cells(self, p: PositionView, unwatched: bool = False) -> dict[str, Text]:
        def right(value: str, style: str = "") -> Text:
            return Text(value, justify="right", style=style)

        def level(price: object) -> Text:
            if unwatched and price is not None:
                return right(NOT_WATCHED, colour(self.app, "warning"))
            return right(fmt.price(price))  # type: ignore[arg-type]

        return {
            "bot": Text(p.bot),
            "symbol": Text(fmt.short_symbol(p.symbol)),
            "qty": right(fmt.qty(p.qty)),
            "entry": right(fmt.price(p.entry)),
            "mark": right(fmt.price(p.mark)),
            "upnl": right(
                fmt.signed_money(p.unrealised), colour(self.app, fmt.pnl_variable(p.unrealised))
            ),
            "sl": level(p.stop_loss),
            "tp": level(p.take_profit),
        }
