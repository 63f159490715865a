"""The suite's waiting helper returns the condition's value as soon as it holds, and on timeout
fails as an assertion that names what was awaited."""

from __future__ import annotations

import asyncio

import pytest
from waiting import WaitTimeout, describe, wait_for, wait_until


async def test_wait_for_returns_the_first_truthy_value() -> None:
    box: list[int] = []
    asyncio.get_running_loop().call_later(0.05, box.append, 7)
    assert await wait_for(lambda: box, 5, "the value") == [7]


async def test_wait_for_names_what_it_waited_for() -> None:
    with pytest.raises(WaitTimeout, match=r"after 0.1s waiting for the order\nstill open"):
        await wait_for(lambda: False, 0.1, "the order", detail=lambda: "still open")


async def test_wait_for_awaits_the_given_pause_between_checks() -> None:
    pauses: list[int] = []

    async def pause() -> None:
        pauses.append(1)
        await asyncio.sleep(0)

    assert await wait_for(lambda: len(pauses) >= 3, 5, "three pauses", pause=pause)


def test_wait_until_fails_as_an_assertion() -> None:
    with pytest.raises(AssertionError, match="waiting for nothing"):
        wait_until(lambda: 0, 0.05, "nothing")
    assert wait_until(lambda: "ok", 1, "ok") == "ok"


def test_describe_shows_the_condition_source() -> None:
    assert "len(range(3)) == 3" in describe(lambda: len(range(3)) == 3)
