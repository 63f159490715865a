"""One bot's closed trades and its daily P&L, rebuilt from the fills the cockpit holds
(DashboardState.fills: live ones and the stored ones asked for at start) by app/trips.py, the
same code as `oxbot trades`. The UI never reads the database here."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Static

from oxbot.app.trips import RoundTrip, daily_pnl, round_trips
from oxbot.engine import messages as m
from oxbot.engine.models import Fill, OrderReason, Side

from .. import formatting as fmt
from ..cockpit import Cockpit, cockpit
from ..state import FILLS_KEPT
from ..widgets.fitting_footer import FittingFooter

REFRESH_S = 1.0


def as_fills(events: Iterable[m.OrderFilled]) -> list[Fill]:
    """The cockpit's fill events as the ledger's fills (what app/trips.py reads). Fees are in
    the quote currency, as OrderFilled carries them."""
    return [
        Fill(
            fill_id=f"{e.client_order_id}:{e.ts}",
            client_order_id=e.client_order_id,
            bot=e.bot,
            symbol=e.symbol,
            side=Side(e.side),
            qty=e.qty,
            price=e.price,
            fee=e.fee,
            ts=e.ts,
            reason=OrderReason(e.reason) if e.reason else OrderReason.ENTRY,
            realised=e.realised,
        )
        for e in events
    ]


def duration(seconds: int) -> str:
    """2d 3h, 4h 05m, 12m, 40s: the two largest units."""
    d, rest = divmod(seconds, 86_400)
    h, rest = divmod(rest, 3_600)
    mins, s = divmod(rest, 60)
    if d:
        return f"{d}d {h}h"
    if h:
        return f"{h}h {mins:02d}m"
    return f"{mins}m" if mins else f"{s}s"


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%m-%d %H:%M")


class TradesScreen(Screen[None]):
    DEFAULT_CSS = """
    TradesScreen #trades-title, TradesScreen #days-title {
        height: 1;
        padding: 0 1;
        text-style: bold;
    }
    TradesScreen #trades-table {
        height: 1fr;
    }
    TradesScreen #days-table {
        height: auto;
        max-height: 40%;
    }
    """
    BINDINGS = [Binding("escape,q", "dismiss(None)", "Back", id="trades.close")]

    def __init__(self, bot: str) -> None:
        super().__init__()
        self.bot = bot
        self._shown: tuple[int, int] | None = None

    @property
    def oxapp(self) -> Cockpit:
        return cockpit(self)

    def compose(self) -> ComposeResult:
        yield Static("", id="trades-title")
        yield DataTable(id="trades-table", cursor_type="row", zebra_stripes=True)
        yield Static("Daily P&L (UTC days of exit)", id="days-title")
        yield DataTable(id="days-table", cursor_type="row")
        yield FittingFooter(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        trades = self.query_one("#trades-table", DataTable)
        # fits 80 columns: the exit's day only when it is not the entry's
        trades.add_columns("Symbol", "Entry", "Exit", "Held", "In", "Out", "P&L", "Reason")
        self.query_one("#days-table", DataTable).add_columns("Day", "Trades", "Wins", "P&L", "Fees")
        self.show()
        self.set_interval(REFRESH_S, self.show)

    def show(self) -> None:
        """Rebuild both tables when the cockpit's fills changed."""
        st = self.oxapp.state
        key = (st.fills_total, st.fills_epoch)
        if key == self._shown:
            return
        self._shown = key
        fills = st.fills_of(self.bot)
        trips = round_trips(as_fills(fills))
        self._fill_trades(trips)
        days = daily_pnl(trips)
        table = self.query_one("#days-table", DataTable)
        table.clear()
        for d in days:
            table.add_row(
                d.day, str(d.trades), str(d.wins), fmt.signed_money(d.pnl), fmt.money(d.fees)
            )
        total = sum((t.pnl for t in trips), Decimal(0))
        note = (
            f" (from the newest {FILLS_KEPT} fills of all bots the cockpit holds; "
            "`oxbot trades` reads them all)"
            if len(st.fills) >= FILLS_KEPT
            else ""
        )
        self.query_one("#trades-title", Static).update(
            f"Closed trades · {self.bot}: {len(trips)}, net {fmt.signed_money(total)}"
            f"{note}   Esc: back"
        )

    def _fill_trades(self, trips: list[RoundTrip]) -> None:
        table = self.query_one("#trades-table", DataTable)
        table.clear()
        for t in reversed(trips):  # newest first
            table.add_row(
                fmt.short_symbol(t.symbol),
                _when(t.entry_ts),
                _when(t.exit_ts)[6:]
                if _when(t.exit_ts)[:5] == _when(t.entry_ts)[:5]
                else _when(t.exit_ts),
                duration(t.duration_s),
                fmt.price(t.entry_price),
                fmt.price(t.exit_price),
                fmt.signed_money(t.pnl),
                t.reason.replace("_", "-"),
            )
