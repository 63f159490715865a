"""Holding new decisions engine-wide (while a PANIC confirmation is on screen).

A hold is a lease: it ends by itself after ``seconds`` unless renewed, so a cockpit that dies or
detaches with its dialog open never leaves the bots frozen for good. While held, a bot makes no
new decision (a decision already in flight is stored as a hold and not acted on), but open
positions keep their stop-loss and take-profit: exits only reduce what PANIC has to close, and
cutting a losing position must never wait for a person to answer a dialog.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from .models import Action, Decision

MAX_LEASE_S = 300.0  # a hold longer than this must be renewed


class DecisionHold:
    """Whether bots may decide now; ``reason()`` is "" when they may."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._until = 0.0
        self._why = ""

    def hold(self, seconds: float, why: str) -> None:
        seconds = lease_s(seconds)
        self._until = self._monotonic() + seconds
        self._why = why or "decisions held"

    def release(self) -> None:
        self._until, self._why = 0.0, ""

    def reason(self) -> str:
        if self._until and self._monotonic() < self._until:
            return self._why
        return ""


def lease_s(seconds: float) -> float:
    """``seconds`` as a lease: 0 to MAX_LEASE_S (never for good; an integer too large for a float
    from a remote client is the longest lease, not an error)."""
    if seconds >= MAX_LEASE_S:  # compared as given: float(10**4000) would overflow
        return MAX_LEASE_S
    return max(0.0, float(seconds))


def withheld(decision: Decision, why: str) -> Decision:
    """The decision as a hold that says why it was not acted on (its cost and reply are kept
    and stored like any other decision's)."""
    items = tuple(replace(i, action=Action.HOLD) for i in decision.items)
    note = f"[not acted on: {why}]"
    return replace(decision, items=items, reasoning=f"{note} {decision.reasoning}".strip())
