"""Toast throttling: trade toasts (fills, SL/TP) are held and shown at most every
TRADE_TOAST_INTERVAL_S, summed up when several came; every other toast shows at once.

20 bots at speed would otherwise bury the screen (and each toast costs a mount and a layout).
Plain Python: the app hands in how to show a toast, how to set a timer and the clock, so the
rules are tested without Textual.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from .state import Toast

TRADE_TOASTS = {"fill", "stop-loss", "take-profit"}
TRADE_TOAST_INTERVAL_S = 2.0


class ToastThrottle:
    """Shows toasts through ``show``; trade toasts in batches, one per interval."""

    def __init__(
        self,
        show: Callable[[Toast], None],
        set_timer: Callable[[float, Callable[[], None]], object],
        *,
        interval: float = TRADE_TOAST_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._show = show
        self._set_timer = set_timer
        self._clock = clock
        self.interval = interval
        self.held: list[Toast] = []
        self._pending = False  # a flush is scheduled
        self._last = 0.0

    def add(self, toasts: Iterable[Toast], *, plain_fills: bool) -> None:
        """Show or hold ``toasts``. Plain fills are dropped unless ``plain_fills`` (the Fills
        panel shows them; a toast would only cover something)."""
        for t in toasts:
            if t.title == "fill" and not plain_fills:
                continue
            if t.title in TRADE_TOASTS:
                self.held.append(t)
            else:
                self._show(t)
        if self.held and not self._pending:
            # never 0: Textual's timer divides by its interval
            wait = max(0.01, self._last + self.interval - self._clock())
            self._pending = True
            self._set_timer(wait, self.flush)

    def flush(self) -> None:
        """Show what is held: one toast as it is, several as one summary."""
        held, self.held = self.held, []
        self._pending = False
        self._last = self._clock()
        if held:
            self._show(held[0] if len(held) == 1 else summary(held))

    def clear(self) -> None:
        """Forget the trade toasts held back for the next batch."""
        self.held.clear()


def summary(held: list[Toast]) -> Toast:
    """``5 fills (1 stop-loss, 2 take-profit), last …``: a warning when a stop-loss hit."""
    sl = sum(t.title == "stop-loss" for t in held)
    tp = sum(t.title == "take-profit" for t in held)
    extra = ", ".join(
        x for x in (f"{sl} stop-loss" if sl else "", f"{tp} take-profit" if tp else "") if x
    )
    return Toast(
        f"{len(held)} fills{f' ({extra})' if extra else ''}, last {held[-1].message}",
        "warning" if sl else "information",
        "fills",
    )
