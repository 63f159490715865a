"""EngineClient: how a front end (the TUI, the CLI) talks to an engine, wherever it runs.

Two implementations share this contract: `InProcessClient` (engine on a thread of this process,
tui/bridge.py) and `SocketClient` (engine in another process, over the control socket). Both
never block the caller: `submit` queues a command; events arrive through the listener, which is
called on whatever thread the implementation uses (front ends marshal to their own thread).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from .messages import Command, Event

EventListener = Callable[[Event], None]


class EngineClient(Protocol):
    def start(self, listener: EventListener) -> None:
        """Connect (or start the engine) and deliver every event to ``listener`` from now on.
        The first event delivered is an EngineSnapshot."""

    def submit(self, command: Command) -> None:
        """Queue a command; never blocks. Its CommandDone event carries the outcome."""

    def stop(self, timeout: float = 10.0) -> None:
        """Disconnect; an in-process client also stops its engine cleanly (state persisted)."""

    @property
    def attached(self) -> bool:
        """True when the engine lives in another process (quitting leaves it running)."""
