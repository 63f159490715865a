"""Redraw coalescing: engine events mark panels dirty; the dashboard is redrawn at most every
REDRAW_INTERVAL_S, and at once for a status change.

20 bots at max speed send thousands of events a second; a person reads a few frames a second;
keys redraw at once. One redraw is ever pending. A status change (often a key's effect: space
pauses the bot) draws the bots table and the header at once and nothing else: the other
panels dirty by then keep their turn, so the frame that shows the key's effect is small.
While a key's own frame is being drawn (`defer`), engine events only mark panels dirty; they
are drawn once that frame is on screen.
Plain Python: the app hands in how to draw, how to set a timer and the clock, so the rules are
tested without Textual.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

REDRAW_INTERVAL_S = 0.1
NOW = "bots-now"  # the dirty mark of a status change (often a key's effect): drawn at once
# What a status change draws at once; the rest waits for the coalesced redraw.
NOW_PANELS = frozenset({NOW, "bots", "header"})
# A key's frame holds engine redraws back this long at most (its `resume` normally comes first).
MAX_DEFER_S = 0.3


class Timer(Protocol):
    def stop(self) -> None: ...


SetTimer = Callable[[float, Callable[[], None]], Timer]


class RedrawCoalescer:
    """Collects dirty panel names and calls ``draw`` with them, at most once per interval."""

    def __init__(
        self,
        draw: Callable[[set[str]], None],
        set_timer: SetTimer,
        *,
        interval: float = REDRAW_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._draw = draw
        self._set_timer = set_timer
        self._clock = clock
        self.interval = interval
        self.dirty: set[str] = set()
        self._last = 0.0
        self._timer: Timer | None = None  # the coalesced redraw, when one is due
        self._deferred_until = 0.0  # a key's frame is being drawn: engine redraws wait

    def hold(self, dirty: set[str]) -> None:
        """Remember what changed without drawing (the app is closing: no screen to draw on)."""
        self.dirty |= dirty

    def request(self, dirty: set[str]) -> None:
        """Mark ``dirty``; draw a status change now (the bots table and the header only); draw
        the rest if the interval has passed and no key's frame is being drawn, else make sure
        one redraw is pending for when that is so."""
        self.dirty |= dirty
        if NOW in self.dirty:
            now, self.dirty = self.dirty & NOW_PANELS, self.dirty - NOW_PANELS
            self._draw(now)
        if not self.dirty or self._timer is not None:
            return
        wait = max(self._last + self.interval, self._deferred_until) - self._clock()
        if wait <= 0:
            self.flush()
        else:
            self._timer = self._set_timer(wait, self._due)

    @property
    def deferred(self) -> bool:
        return self._clock() < self._deferred_until

    def defer(self) -> None:
        """A key's frame is being drawn: engine events mark panels dirty without drawing until
        `resume`, or MAX_DEFER_S at most (a status change still draws its part at once: it is
        often the key's effect)."""
        self._deferred_until = self._clock() + MAX_DEFER_S

    def resume(self) -> None:
        """The key's frame is on screen: what engine events left dirty meanwhile is drawn now
        if the interval has passed, else when it has."""
        self._deferred_until = 0.0
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.request(set())

    def _due(self) -> None:
        self._timer = None
        wait = self._deferred_until - self._clock()
        if wait > 0:  # ``resume`` draws it, or this timer once the deferral has run out
            self._timer = self._set_timer(wait, self._due)
            return
        self.flush()  # looked up at call time: a test may wrap ``flush``

    def flush(self) -> None:
        """Draw what is dirty now and cancel the pending redraw."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        dirty, self.dirty = self.dirty, set()
        self._last = self._clock()
        if dirty:
            self._draw(dirty)
