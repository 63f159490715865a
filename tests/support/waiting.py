"""The suite's one way to wait: poll a condition until it holds or a timeout passes, and on
timeout fail saying what was awaited.

A test never sleeps a guessed time for something to happen (a loaded CI machine is slower than
a laptop), and never sleeps to show that something does not happen: it waits for a later fact
(N more events, candles or log lines) and asserts the forbidden thing is absent before it.

``wait_for`` runs on the event loop; between checks it awaits ``pause`` (``asyncio.sleep`` by
default; ``pilot.pause`` in the cockpit's tests so the app draws, or a read of the engine's
bus). ``wait_until`` is the same for plain threads and subprocesses.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

EVERY = 0.02  # seconds between checks: fast enough not to slow a test, cheap enough to spin


class WaitTimeout(AssertionError):
    """A condition did not hold in time (an AssertionError: the test fails, it does not error)."""


def describe(cond: Callable[[], object]) -> str:
    """The condition's own source line, for wrappers whose callers pass no description."""
    try:
        return inspect.getsource(cond).strip()
    except (OSError, TypeError):
        return getattr(cond, "__qualname__", repr(cond))


def _timed_out(what: str, timeout: float, detail: Callable[[], str] | None) -> WaitTimeout:
    text = f"timed out after {timeout:g}s waiting for {what}"
    if detail is not None:
        text += "\n" + detail()
    return WaitTimeout(text)


async def wait_for[T](
    cond: Callable[[], T],
    timeout: float,
    what: str,
    *,
    pause: Callable[[], Awaitable[object]] | None = None,
    detail: Callable[[], str] | None = None,
) -> T:
    """Return cond()'s first truthy value; raise WaitTimeout naming ``what`` after ``timeout``
    seconds. ``detail`` adds context to the failure (a screen, a log tail)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        value = cond()
        if value:
            return value
        if loop.time() > end:
            raise _timed_out(what, timeout, detail)
        if pause is None:
            await asyncio.sleep(EVERY)
        else:
            await pause()


def wait_until[T](
    cond: Callable[[], T],
    timeout: float,
    what: str,
    *,
    every: float = EVERY,
    detail: Callable[[], str] | None = None,
) -> T:
    """The blocking twin of wait_for, for tests that drive threads or child processes."""
    end = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > end:
            raise _timed_out(what, timeout, detail)
        time.sleep(every)
