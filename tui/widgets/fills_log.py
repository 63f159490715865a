"""Trades and fills, newest last. Each line leads with what matters to a trader (time, bot,
side, size, the exit reason and realised P&L) and ends with the price; lines wrap to the panel's
width rather than being cut, and are laid out again when the panel changes width."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from rich.text import Text
from textual.events import Resize
from textual.widgets import RichLog

from .. import formatting as fmt
from ..palette import colour
from .no_layout_scroll import NoLayoutVirtualSize

if TYPE_CHECKING:  # annotations only: the engine's messages load after the first frame
    from oxbot.engine.messages import OrderFilled

REASON_TEXT = {
    "stop_loss": "STOP-LOSS",
    "take_profit": "TAKE-PROFIT",
    "flatten": "FLATTEN",
    "time_exit": "time exit",
    "entry": "entry",
    "exit": "exit",
}
SHOWN_MAX = 500


class FillsLog(NoLayoutVirtualSize, RichLog):
    """Appends only fills it has not shown yet (the state keeps the history). A line appended
    repaints the panel without laying the screen out (no_layout_scroll.py)."""

    def __init__(
        self,
        *,
        id: str | None = None,  # noqa: A002 - Textual's name
        classes: str | None = None,
    ) -> None:
        # min_width 0: RichLog renders at least 78 columns by default, which a half-width
        # panel then cuts off instead of wrapping.
        super().__init__(
            id=id, classes=classes, wrap=True, markup=False, min_width=0, max_lines=SHOWN_MAX
        )
        self._shown = 0
        self._fills: list[OrderFilled] = []
        self._width = 0
        self._epoch = 0
        self._stale = False  # fills arrived while hidden: rewrite when shown

    def show(self, fills: Iterable[OrderFilled], total: int, epoch: int = 0) -> None:
        """Append fills not shown yet; rewrite all when ``epoch`` moved (stored fills were
        merged in before the ones shown)."""
        self._fills = list(fills)[-SHOWN_MAX:]
        if not self.display or self.size.width <= 0:
            # Hidden (another tab of the compact layout): lines written now would be wrapped
            # at width 0 and stay blank. Draw them all when the panel is shown again.
            self._epoch, self._shown, self._stale = epoch, total, True
            return
        if epoch != self._epoch or self._stale:
            self._epoch = epoch
            self._rewrite()
            self._shown = total
            return
        new = total - self._shown
        if new <= 0:
            return
        self._append(self._fills[-min(new, len(self._fills)) :])
        self._shown = total

    def on_resize(self, event: Resize) -> None:
        # Written lines keep the width they were wrapped at: lay them out again.
        if event.size.width > 0 and (event.size.width != self._width or self._stale):
            self._width = event.size.width
            if self._fills or self._stale:
                self._rewrite()

    def on_show(self) -> None:
        if self._stale:
            self.call_after_refresh(self._rewrite)

    def _rewrite(self) -> None:
        self._stale = False
        self.clear()
        self._append(self._fills, follow=True)

    def _append(self, fills: Iterable[OrderFilled], *, follow: bool | None = None) -> None:
        """Write lines, then follow the newest in the same frame, unless the user has scrolled
        back to read (RichLog's own auto-scroll always jumps, and one frame later: a second
        full repaint of the panel for every batch of fills)."""
        if follow is None:
            follow = self.is_vertical_scroll_end
        for f in fills:
            self.write(self._line(f), scroll_end=False)
        if follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    def _line(self, f: OrderFilled) -> Text:
        side = f.side.upper()
        t = Text()
        t.append(f"{fmt.hhmm(f.ts)} ", style="dim")
        t.append(f"{f.bot} ", style="bold")
        t.append(f"{side} ", style=colour(self.app, "pnl-up" if side == "BUY" else "pnl-down"))
        t.append(f"{fmt.qty(f.qty)} {fmt.short_symbol(f.symbol)}")
        reason = REASON_TEXT.get(f.reason, f.reason)
        if reason not in ("entry", "exit"):
            t.append(f" {reason}", style="bold")
        if f.realised is not None and f.reason != "entry":  # a close shows its P&L, even 0
            t.append(
                f" P&L {fmt.signed_money(f.realised)}",
                style=colour(self.app, fmt.pnl_variable(f.realised)),
            )
        t.append(f" @{fmt.price(f.price)}")  # one word: a wrap never strands the "@"
        return t
