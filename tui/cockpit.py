"""What screens may ask of the cockpit app, beyond Textual's own App API: its state, the engine
client, the clock, sending a command, and marking the UI busy.

Screens reach it with ``cockpit(self)``; OxbotApp satisfies it (tests/tui check it does), so a
screen can be tested on any app that does too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, cast, runtime_checkable

from textual.dom import DOMNode

from oxbot.engine.clock import Clock

from .state import DashboardState

if TYPE_CHECKING:  # annotations only: the engine's messages load after the first frame
    from oxbot.engine import messages as m
    from oxbot.engine.client import EngineClient


@runtime_checkable
class Cockpit(Protocol):
    state: DashboardState
    client: EngineClient
    clock: Clock
    last_input: float  # time.monotonic() of the last key, click or resize (0: none yet)

    def send(self, command: m.Command, what: str, *, quiet: bool = False) -> str:
        """Submit ``command``; returns its request id; ``what`` names it in the outcome toast."""
        ...

    def foreground_busy(self) -> None:
        """A key or a frame to handle: an in-process replay steps aside until it is drawn."""
        ...


def cockpit(node: DOMNode) -> Cockpit:
    """The app ``node`` runs in, as the cockpit."""
    return cast(Cockpit, node.app)
