"""Sharing one interpreter with a cockpit: a CPU-bound replay steps aside while the UI draws.

The in-process cockpit runs the engine on a second thread of the same Python process, and only
one thread runs Python at a time (the GIL). A sim at max speed never waits on anything, so it
holds the interpreter about half the time; worse, each time the UI thread blocks in a system call
(reading a key, waking its loop, handing a frame to the writer) the engine takes the lock back
and the UI waits a whole switch interval to get it again. Keys feel sluggish exactly when a replay
runs. So the UI marks itself busy when it has a key or a frame to handle and idle once the frame
is on screen; the market (between candles) and each bot (between the items of its inbox) call
`wait_turn`, which parks them without polling until the UI says idle, for at most `max_wait_s`
per busy spell so a UI that never says "idle" cannot stall trading. Commands are still answered
meanwhile: the engine's loop keeps running, only the replay waits.

Headless, or attached over a socket, nothing marks the UI busy and `wait_turn` costs one check.
"""

from __future__ import annotations

import asyncio
import threading
import time


class Foreground:
    """Thread-safe: `busy`/`idle` are called by the UI thread, `wait_turn` on the engine's loop."""

    def __init__(self, *, max_wait_s: float = 0.05) -> None:
        self._busy = threading.Event()
        self._lock = threading.Lock()
        self._since = 0.0  # when the current busy spell began
        self._wake: tuple[asyncio.AbstractEventLoop, asyncio.Future[None]] | None = None
        self.max_wait_s = max_wait_s
        self.yielded_s = 0.0  # total time the engine stepped aside (for benchmarks)

    def busy(self) -> None:
        if self._busy.is_set():
            return
        with self._lock:
            if not self._busy.is_set():
                self._since = time.monotonic()
                self._busy.set()

    def idle(self) -> None:
        with self._lock:
            self._busy.clear()
            wake, self._wake = self._wake, None
        if wake is not None:
            loop, fut = wake
            try:
                loop.call_soon_threadsafe(_release, fut)
            except RuntimeError:  # the engine's loop has closed: nobody is waiting any more
                pass

    @property
    def is_busy(self) -> bool:
        return self._busy.is_set()

    async def wait_turn(self) -> None:
        """Park while the UI is busy, until it says idle or its spell has lasted `max_wait_s`;
        return at once otherwise."""
        if not self._busy.is_set():
            return
        loop = asyncio.get_running_loop()
        with self._lock:
            remaining = self._since + self.max_wait_s - time.monotonic()
            if not self._busy.is_set() or remaining <= 0:
                return
            first = self._wake is None or self._wake[0] is not loop
            if first:
                self._wake = (loop, loop.create_future())
            assert self._wake is not None
            fut = self._wake[1]
        start = time.monotonic()
        await asyncio.wait((fut,), timeout=remaining)
        if first:  # every waiter parks on the same spell: count it once
            self.yielded_s += time.monotonic() - start


def _release(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
