"""A takeover that failed is tried again later: after the first wait, then twice as long each
time it fails again, never more than the cap apart; a success forgets the bot."""

from __future__ import annotations

from oxbot.engine.leasing import TakeoverRetries


def test_a_failed_takeover_is_tried_again_after_a_doubling_wait() -> None:
    now = [100.0]
    retries = TakeoverRetries(3.0, max_s=10.0, now=lambda: now[0])
    assert not retries.waiting("a1")
    waits = []
    for _ in range(4):
        retries.failed("a1")
        start = now[0]
        while retries.waiting("a1"):
            now[0] += 0.5
        waits.append(now[0] - start)
    assert waits == [3.0, 6.0, 10.0, 10.0]
    assert not retries.waiting("a2")  # one bot's failures hold up no other
    retries.failed("a1")
    retries.succeeded("a1")
    assert not retries.waiting("a1")
    retries.failed("a1")  # a new failure after a success waits the first wait again
    now[0] += 2.5
    assert retries.waiting("a1")
    now[0] += 0.5
    assert not retries.waiting("a1")
