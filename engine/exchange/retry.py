"""Retrying reads (exponential backoff with jitter) and a circuit breaker per exchange.

Writes are never retried here: ``CcxtBroker`` handles ``create_order`` outcomes itself.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from oxbot.engine.errors import CircuitOpen, ExchangeError, RateLimited, TemporaryError

from .errors import translate

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``retries`` extra calls after the first; delay n is ``base_s * factor**n`` capped at
    ``max_s``, times a random factor in ``[1 - jitter, 1 + jitter]``. A Retry-After from the
    exchange wins when longer (capped at ``max_retry_after_s``)."""

    retries: int = 4
    base_s: float = 1.0
    factor: float = 2.0
    max_s: float = 10.0
    jitter: float = 0.2
    max_retry_after_s: float = 60.0

    def nominal(self, attempt: int) -> float:
        """The un-jittered delay after failed call number ``attempt`` (0-based)."""
        return min(self.max_s, self.base_s * self.factor**attempt)

    def schedule(self) -> list[float]:
        return [self.nominal(i) for i in range(self.retries)]

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        d = self.nominal(attempt) * (1 + rng.uniform(-self.jitter, self.jitter))
        if retry_after is not None:
            d = max(d, min(retry_after, self.max_retry_after_s))
        return d


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


BreakerListener = Callable[[str, BreakerState, BreakerState, str], None]


class CircuitBreaker:
    """Opens after ``threshold`` consecutive temporary failures and refuses calls
    (``CircuitOpen``) for ``cooldown_s``; then lets one probe through (half-open): success
    closes it, failure re-opens it. ``on_change(name, old, new, reason)`` hears every change
    (the engine turns it into a Notice and pauses the exchange's bots while open)."""

    def __init__(
        self,
        name: str,
        *,
        threshold: int = 5,
        cooldown_s: float = 30.0,
        on_change: BreakerListener | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.on_change = on_change
        self._now = monotonic
        self.state = BreakerState.CLOSED
        self.failures = 0
        self._opened_at = 0.0
        self._probing = False
        self.last_error = ""

    def _set(self, new: BreakerState, reason: str) -> None:
        old, self.state = self.state, new
        if old is not new and self.on_change is not None:
            self.on_change(self.name, old, new, reason)

    def before_call(self) -> None:
        """Raise ``CircuitOpen`` unless a call may go out now."""
        if self.state is BreakerState.OPEN:
            wait = self.cooldown_s - (self._now() - self._opened_at)
            if wait > 0:
                raise CircuitOpen(
                    f"{self.name} is unreachable ({self.last_error}); calls paused, next probe "
                    f"in {wait:.0f}s"
                )
            self._set(BreakerState.HALF_OPEN, "cooldown over, probing")
            self._probing = False
        if self.state is BreakerState.HALF_OPEN:
            if self._probing:
                raise CircuitOpen(f"{self.name}: a probe is in flight; waiting for its outcome")
            self._probing = True

    def record_success(self) -> None:
        self.failures = 0
        self._probing = False
        if self.state is not BreakerState.CLOSED:
            self._set(BreakerState.CLOSED, "exchange answered again")

    def record_failure(self, error: str) -> None:
        self.failures += 1
        self.last_error = error
        self._probing = False
        if self.state is BreakerState.HALF_OPEN or (
            self.state is BreakerState.CLOSED and self.failures >= self.threshold
        ):
            self._opened_at = self._now()
            self._set(BreakerState.OPEN, f"{self.failures} consecutive failures: {error}")

    def release(self) -> None:
        """A call ended without telling us about the exchange (cancelled): free the probe."""
        self._probing = False


async def call_with_retry[T](
    fn: Callable[[], Awaitable[T]],
    attempted: str,
    *,
    policy: RetryPolicy | None = None,
    sleep: Sleep = asyncio.sleep,
    breaker: CircuitBreaker | None = None,
    rng: random.Random | None = None,
    retry_after_of: Callable[[], float | None] | None = None,
) -> T:
    """Await ``fn()`` (a READ) up to ``1 + policy.retries`` times on temporary errors.

    Permanent errors raise at once, translated. ``CircuitOpen`` is never retried here (the
    caller's loop decides when to come back). Cancellation propagates between attempts.
    """
    policy = policy or RetryPolicy()
    rng = rng or random.Random()
    attempt = 0
    while True:
        if breaker is not None:
            breaker.before_call()
        try:
            result = await fn()
        except asyncio.CancelledError:
            if breaker is not None:
                breaker.release()
            raise
        except Exception as e:  # noqa: BLE001 - every SDK error is translated right here
            retry_after = retry_after_of() if retry_after_of else None
            err: ExchangeError = translate(e, attempted, retry_after)
            if not isinstance(err, TemporaryError):
                if breaker is not None:
                    breaker.record_success()  # it answered: the exchange is reachable
                raise err from e
            if breaker is not None:
                breaker.record_failure(str(err))
            if attempt >= policy.retries:
                raise err from e
            ra = err.retry_after if isinstance(err, RateLimited) else None
            await sleep(policy.delay(attempt, rng, ra))
            attempt += 1
            continue
        if breaker is not None:
            breaker.record_success()
        return result
