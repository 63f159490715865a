"""Redraw coalescing: engine events mark panels dirty; the dashboard is redrawn at most every
REDRAW_INTERVAL_S, and at once for a status change.

20 bots at max speed send thousands of events a second; a person reads a few frames a second;
keys redraw at once. One redraw is ever pending: flushing early (a status change) cancels it.
Plain Python: the app hands in how to draw, how to set a timer and the clock, so the rules are
tested without Textual.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

REDRAW_INTERVAL_S = 0.1
NOW = "bots-now"  # the dirty mark of a status change (often a key's effect): drawn at once


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

    def hold(self, dirty: set[str]) -> None:
        """Remember what changed without drawing (the app is closing: no screen to draw on)."""
        self.dirty |= dirty

    def request(self, dirty: set[str]) -> None:
        """Mark ``dirty``; draw now if a status changed or the interval has passed, else make
        sure one redraw is pending for when it has."""
        self.dirty |= dirty
        if NOW in dirty:
            self.flush()
        elif self._timer is None:
            wait = self._last + self.interval - self._clock()
            if wait <= 0:
                self.flush()
            else:
                self._timer = self._set_timer(wait, self._due)

    def _due(self) -> None:
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
