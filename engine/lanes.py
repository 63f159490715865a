"""Command lanes: the engine's commands run concurrently, one lane per bot.

A LIVE start that waits on a slow exchange, or a stop that waits out another bot's order in
flight, must not hold up every command queued behind it: PANIC above all has to act at once.
Commands about one bot stay in the order they were sent (its own lane); commands about the
engine as a whole (snapshots, histories) share one lane of their own; the commands that must
never wait (PANIC, holding decisions) run at once, each in its own task.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from .messages import (
    AddBot,
    Command,
    DeleteBot,
    FlattenBot,
    HoldDecisions,
    PanicAll,
    PauseBot,
    ResolveReconcile,
    ResumeBot,
    StartBot,
    StopBot,
    UpdateBot,
)

log = logging.getLogger("oxbot.engine")

IMMEDIATE = (PanicAll, HoldDecisions)
ENGINE_LANE = ""  # snapshots, histories, reconcile lists: in order among themselves

# The PANIC count when the command being handled was sent: a start sent before a PANIC must
# not bring its bot back after it (engine._start reads it).
SENT_AT_PANIC: contextvars.ContextVar[int] = contextvars.ContextVar("sent_at_panic", default=0)


def lane_of(cmd: Command) -> str | None:
    """The bot a command is about (its lane), ENGINE_LANE, or None for "run at once"."""
    if isinstance(cmd, IMMEDIATE):
        return None
    if isinstance(cmd, AddBot):
        return "bot:" + (cmd.config.name if cmd.config is not None else "")
    if isinstance(
        cmd, StartBot | StopBot | PauseBot | ResumeBot | FlattenBot | DeleteBot | UpdateBot
    ):
        return "bot:" + cmd.name
    if isinstance(cmd, ResolveReconcile):
        return "bot:" + cmd.bot
    return ENGINE_LANE


class CommandLanes:
    """Runs ``handle(cmd)`` for each routed command: in order within a lane, lanes at once."""

    def __init__(
        self, handle: Callable[[Command], Awaitable[None]], panics: Callable[[], int]
    ) -> None:
        self._handle = handle
        self._panics = panics
        self._lanes: dict[str, deque[tuple[Command, int]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def busy(self) -> int:
        """Commands being handled or waiting."""
        return len(self._tasks)

    def route(self, cmd: Command) -> None:
        lane = lane_of(cmd)
        sent = self._panics()
        if lane is None:
            self._spawn(self._one(cmd, sent), type(cmd).__name__)
            return
        queue = self._lanes.get(lane)
        if queue is not None:  # its drainer is running and will get to it
            queue.append((cmd, sent))
            return
        queue = self._lanes[lane] = deque([(cmd, sent)])
        self._spawn(self._drain(lane, queue), f"lane {lane or 'engine'}")

    async def _one(self, cmd: Command, sent: int) -> None:
        SENT_AT_PANIC.set(sent)
        await self._handle(cmd)

    async def _drain(self, lane: str, queue: deque[tuple[Command, int]]) -> None:
        try:
            while queue:
                cmd, sent = queue.popleft()
                SENT_AT_PANIC.set(sent)
                await self._handle(cmd)
        finally:
            if self._lanes.get(lane) is queue:
                del self._lanes[lane]

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(f"command {name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self, grace_s: float = 5.0) -> None:
        """At shutdown: let what runs finish for ``grace_s``, then cancel the rest (queued
        commands are dropped: the engine is stopping)."""
        for queue in self._lanes.values():
            queue.clear()
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=grace_s)
        for task in pending:
            log.info("%s cancelled: the engine is stopping", task.get_name())
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
