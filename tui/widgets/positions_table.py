"""Open positions of the selected bot (or of every bot)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from oxbot.engine.messages import PositionView

from .. import formatting as fmt
from ..palette import colour


class PositionsTable(DataTable[str | Text]):
    def on_mount(self) -> None:
        self.cursor_type = "none"
        self.zebra_stripes = True
        self._with_bot: bool | None = None

    def show(self, positions: list[PositionView], *, all_bots: bool) -> None:
        """All bots: a Bot column first; one bot: its name is in the panel title already."""
        if all_bots != self._with_bot:
            self.clear(columns=True)
            cols = (("symbol", "Symbol"), ("side", "Side"), ("qty", "Qty"),
                    ("entry", "Entry"), ("mark", "Mark"), ("upnl", "uP&L"), ("sl", "SL"),
                    ("tp", "TP"))
            for key, label in ((("bot", "Bot"),) if all_bots else ()) + cols:
                self.add_column(label, key=key)
            self._with_bot = all_bots
        self.clear()
        if not positions:
            return
        for p in positions:
            self.add_row(
                *((p.bot,) if all_bots else ()), p.symbol, p.side,
                Text(fmt.qty(p.qty), justify="right"),
                Text(fmt.price(p.entry), justify="right"),
                Text(fmt.price(p.mark), justify="right"),
                Text(fmt.signed_money(p.unrealised), justify="right",
                     style=colour(self.app, fmt.pnl_variable(p.unrealised))),
                Text(fmt.price(p.stop_loss), justify="right"),
                Text(fmt.price(p.take_profit), justify="right"),
            )
