"""The one bridge from engine events to Textual: the listener runs on the engine's thread,
appends to a queue and wakes the UI with a single pending message, so a burst of thousands of
events costs the UI one wake-up and one redraw, not thousands."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from .messages import EngineEventsArrived

if TYPE_CHECKING:  # annotations only: the engine's messages load after the first frame
    from oxbot.engine.messages import Event


class EventInbox:
    """Thread-safe event queue with at most one wake-up message in flight."""

    def __init__(self, post: Callable[[EngineEventsArrived], object]) -> None:
        self._post = post
        self._queue: deque[Event] = deque()
        self._lock = threading.Lock()
        self._wake_pending = False

    def listener(self, event: Event) -> None:
        """EventListener for EngineClient.start; called on the engine thread."""
        with self._lock:
            self._queue.append(event)
            if self._wake_pending:
                return
            self._wake_pending = True
        self._post(EngineEventsArrived())

    def drain(self, limit: int = 5000) -> list[Event]:
        """Take up to ``limit`` events (UI thread). Re-arms the wake-up before returning."""
        with self._lock:
            n = min(limit, len(self._queue))
            batch = [self._queue.popleft() for _ in range(n)]
            more = bool(self._queue)
            self._wake_pending = more
        if more:  # leave the rest for the next turn so keys are handled in between
            self._post(EngineEventsArrived())
        return batch
