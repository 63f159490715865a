"""A typed registry from command type to its handler: the engine builds one at start, so a
command without a handler is found by a test (tests/engine/test_engine_command_registry.py),
not by a user whose request fails as "unknown command"."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .messages import Command

C = TypeVar("C", bound=Command)
# A handler's answer is the CommandDone message ("" for none); an OxbotError is a refusal.
Handler = Callable[[C], Awaitable[str]]


class CommandHandlers:
    """One handler per concrete command type (exact type: a subclass is not handled by its
    parent's handler, so every new command needs its own line)."""

    def __init__(self) -> None:
        # Any: each entry pairs a type with a handler of that type (checked in ``add``)
        self._by_type: dict[type[Command], Callable[[Any], Awaitable[str]]] = {}

    def add(self, cls: type[C], handler: Handler[C]) -> None:
        if cls in self._by_type:
            raise ValueError(f"{cls.__name__} already has a handler")
        self._by_type[cls] = handler

    def get(self, cmd: Command) -> Callable[[Command], Awaitable[str]] | None:
        return self._by_type.get(type(cmd))

    def types(self) -> frozenset[type[Command]]:
        return frozenset(self._by_type)
