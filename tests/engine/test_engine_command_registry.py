"""Every command has exactly one handler: a new command type without one fails here, not for a
user whose request comes back as "unknown command"."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import pytest

from oxbot.engine import messages
from oxbot.engine.commands import CommandHandlers
from oxbot.engine.messages import Command, CommandDone, RequestSnapshot, Shutdown, StartBot
from oxbot.remote.codec import StatusRequest

from .conftest import make_engine

# Commands the engine's registry does not handle on purpose, with where they are handled.
HANDLED_ELSEWHERE: dict[type[Command], str] = {
    Shutdown: "ends Engine.run's loop, after the commands queued before it",
    StatusRequest: "answered by the control server (remote/server.py), never submitted",
}


def engine_commands() -> set[type[Command]]:
    """The concrete Command subclasses engine/messages.py defines."""
    return {
        obj
        for obj in vars(messages).values()
        if inspect.isclass(obj)
        and issubclass(obj, Command)
        and obj is not Command
        and obj.__module__ == messages.__name__
    }


def test_the_command_list_is_read_from_messages() -> None:
    found = engine_commands()
    assert {StartBot, RequestSnapshot, Shutdown} <= found
    assert len(found) >= 17


async def test_every_engine_command_has_one_handler_except_those_handled_elsewhere(
    store: Any,
) -> None:
    engine = make_engine(store)
    handled = engine.handlers.types()
    unhandled = engine_commands() - handled - set(HANDLED_ELSEWHERE)
    assert not unhandled, f"commands without a handler: {sorted(c.__name__ for c in unhandled)}"
    assert not handled & set(HANDLED_ELSEWHERE)
    assert handled <= engine_commands()


async def test_each_handler_is_the_engine_method_named_for_its_command(store: Any) -> None:
    engine = make_engine(store)
    for cls in engine.handlers.types():
        handler = engine.handlers.get(cls())
        assert handler is not None
        assert getattr(handler, "__name__", "") == f"_on_{cls.__name__}"


def test_a_second_handler_for_a_command_is_refused() -> None:
    handlers = CommandHandlers()

    async def one(cmd: StartBot) -> str:
        return "one"

    handlers.add(StartBot, one)
    with pytest.raises(ValueError, match="StartBot already has a handler"):
        handlers.add(StartBot, one)


async def test_a_command_without_a_handler_fails_with_its_name(store: Any) -> None:
    @dataclass(frozen=True, slots=True)
    class Mystery(StartBot):  # a subclass is not handled by its parent's handler
        pass

    engine = make_engine(store)
    done: list[CommandDone] = []
    engine.bus.listen(lambda ev: done.append(ev) if isinstance(ev, CommandDone) else None)
    await engine._dispatch(Mystery(request_id="r1", name="x"))
    assert [(d.request_id, d.ok, d.message) for d in done] == [
        ("r1", False, "unknown command Mystery")
    ]
