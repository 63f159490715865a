"""Trades and fills, newest last."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.widgets import RichLog

from oxbot.engine.messages import OrderFilled

from .. import formatting as fmt
from ..palette import colour

REASON_TEXT = {"stop_loss": "STOP-LOSS", "take_profit": "TAKE-PROFIT", "flatten": "FLATTEN",
               "entry": "entry", "exit": "exit"}


class FillsLog(RichLog):
    """Appends only fills it has not shown yet (the state keeps the history)."""

    def on_mount(self) -> None:
        self._shown = 0
        self.max_lines = 500

    def show(self, fills: Iterable[OrderFilled], total: int) -> None:
        fills = list(fills)
        new = total - self._shown
        if new <= 0:
            return
        for f in fills[-min(new, len(fills)):]:
            self.write(self._line(f))
        self._shown = total

    def _line(self, f: OrderFilled) -> Text:
        side = f.side.upper()
        t = Text()
        t.append(f"{fmt.hhmm(f.ts)} ", style="dim")
        t.append(f"{f.bot} ", style="bold")
        t.append(f"{side:<4} ", style=colour(self.app, "pnl-up" if side == "BUY" else "pnl-down"))
        t.append(f"{fmt.qty(f.qty)} {f.symbol} @ {fmt.price(f.price)}")
        reason = REASON_TEXT.get(f.reason, f.reason)
        if reason not in ("entry", "exit"):
            t.append(f"  {reason}", style="bold")
        if f.realised:
            t.append(f"  P&L {fmt.signed_money(f.realised)}",
                     style=colour(self.app, fmt.pnl_variable(f.realised)))
        return t
