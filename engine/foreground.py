"""Sharing one interpreter with a cockpit: a CPU-bound replay steps aside while the UI draws.

The in-process cockpit runs the engine on a second thread of the same Python process, and only
one thread runs Python at a time (the GIL). A sim at max speed never waits on anything, so it
holds the interpreter about half the time and every millisecond of drawing costs the UI two or
more of wall time: keys feel sluggish exactly when a replay runs. The UI marks itself busy when
it has a key or a frame to handle and idle once the frame is on screen; the market conductor
calls `wait_turn` between candles and naps (releasing the GIL) while the UI is busy, for at most
`max_wait_s` so a UI that never says "idle" cannot stall trading.

Headless, or attached over a socket, nothing marks the UI busy and `wait_turn` costs one check.
"""

from __future__ import annotations

import asyncio
import threading
import time


class Foreground:
    """Thread-safe flag: set by the UI thread, read by the engine thread."""

    def __init__(self, *, nap_s: float = 0.002, max_wait_s: float = 0.05) -> None:
        self._busy = threading.Event()
        self.nap_s = nap_s
        self.max_wait_s = max_wait_s
        self.yielded_s = 0.0  # total time the engine stepped aside (for benchmarks)

    def busy(self) -> None:
        self._busy.set()

    def idle(self) -> None:
        self._busy.clear()

    @property
    def is_busy(self) -> bool:
        return self._busy.is_set()

    async def wait_turn(self) -> None:
        """Nap while the UI is busy, up to ``max_wait_s``; return at once otherwise."""
        if not self._busy.is_set():
            return
        start = time.monotonic()
        end = start + self.max_wait_s
        while self._busy.is_set() and time.monotonic() < end:
            await asyncio.sleep(self.nap_s)
        self.yielded_s += time.monotonic() - start
