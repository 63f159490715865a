"""Engine hosting: starting and stopping the cockpit's engine client, settling the heap once an
in-process engine runs, and telling that engine when the UI is drawing.

Plain Python, called from the app's thread workers (start, stop) and its UI thread (busy);
tested without Textual.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # annotations only: the engine's messages load after the first frame
    from oxbot.engine.client import EngineClient, EventListener


class Foreground(Protocol):
    """engine/foreground.py's Foreground, as the UI uses it."""

    def busy(self) -> None: ...

    def idle(self) -> None: ...


class EngineHost:
    """The engine client of one cockpit: started once, stopped once, whatever ends the app."""

    def __init__(self, client: EngineClient, *, settle_heap: bool = False) -> None:
        self.client = client
        self.settle_heap = settle_heap  # runtime.settle_heap once the engine runs
        # in-process engines only: a replay at max speed steps aside while the UI draws
        self.foreground: Foreground | None = getattr(client, "foreground", None)
        self.started = False
        self._idle_pending = False

    def start(self, listener: EventListener) -> None:
        """Blocking (a worker thread's): start the client, then settle the heap if asked.

        A process entry point (``settle_heap``) resumes the cycle collector here, whether the
        engine started or not: the cockpit's start holds it (cli/tui.py ``_gc_held``) through
        the first frame and the engine's build, whose objects nearly all live as long as the
        process and are frozen here (bench/RESULTS.md, session 25)."""
        try:
            self.client.start(listener)
            self.started = True
            if self.settle_heap:
                # here, not at the top: app.runtime loads the whole engine, which an attached
                # cockpit never needs
                from oxbot.app.runtime import settle_heap  # noqa: PLC0415

                settle_heap(share_with_ui=self.foreground is not None)
        finally:
            if self.settle_heap:
                gc.enable()

    def stop(self, timeout: float = 10.0) -> None:
        """Blocking: stop a started client (an in-process engine saves its bots' state)."""
        if self.started:
            self.client.stop(timeout)
            self.started = False

    def busy(self, after_refresh: Callable[[Callable[[], None]], object]) -> None:
        """A key or a frame to handle: a max-speed replay in this process naps until the screen
        is refreshed (``after_refresh`` calls back then; engine/foreground.py), so drawing gets
        the interpreter to itself."""
        if self.foreground is None:
            return
        self.foreground.busy()
        if not self._idle_pending:
            self._idle_pending = True
            after_refresh(self._idle)

    def _idle(self) -> None:
        self._idle_pending = False
        if self.foreground is not None:
            self.foreground.idle()
