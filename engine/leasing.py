"""What the engine needs of bot leases (several engines on one database, storage/leases.py).

- ``FencedLedger``: the bots' view of the store. A write refused with LeaseLost (another
  engine took the bot over) tells the engine at once, then raises as before: the bot halts.
- ``RenewalClock``: when the last renewal that succeeded was SENT, on this engine's own
  monotonic clock; past the ttl the engine can no longer prove it owns its bots.
- ``TakeoverRetries``: a takeover that failed is tried again later, not at every renewal and
  not never (the bot would run nowhere once its old engine is gone).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from .errors import LeaseLost
from .models import BotStatus, DecisionRecord, EquityPoint, Fill, Order, Position, RiskState
from .ports import BotLedger

LEASE_TTL_S = 30.0  # a crashed engine's bots are taken over after this long
RETRY_MAX_S = 600.0  # a takeover that keeps failing is tried again at least this often


class FencedLedger:
    """``store`` for the bots: LeaseLost is handed to ``lost(bot, owner)`` before it raises."""

    def __init__(self, store: BotLedger, lost: Callable[[str, str], None]) -> None:
        self._store = store
        self._lost = lost

    @property
    def write_failing(self) -> bool:
        return self._store.write_failing

    async def record_cycle(
        self,
        bot: str,
        *,
        orders: Sequence[Order] = (),
        fills: Sequence[Fill] = (),
        positions: Mapping[str, Position | None] | None = None,
        decision: DecisionRecord | None = None,
        equity: Sequence[EquityPoint] = (),
    ) -> list[bool]:
        try:
            return await self._store.record_cycle(
                bot,
                orders=orders,
                fills=fills,
                positions=positions,
                decision=decision,
                equity=equity,
            )
        except LeaseLost as e:
            self._lost(e.bot, e.owner)
            raise

    async def set_bot_status(self, name: str, status: BotStatus) -> None:
        try:
            await self._store.set_bot_status(name, status)
        except LeaseLost as e:
            self._lost(e.bot, e.owner)
            raise

    async def save_risk_state(
        self, bot: str, state: RiskState, equity: Sequence[EquityPoint] = ()
    ) -> None:
        try:
            await self._store.save_risk_state(bot, state, equity)
        except LeaseLost as e:
            self._lost(e.bot, e.owner)
            raise


class RenewalClock:
    """``expired()`` once no renewal sent in the last ``ttl_s`` succeeded."""

    def __init__(self, ttl_s: float, now: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._now = now
        self._last_ok = now()

    def sent(self) -> float:
        return self._now()

    def succeeded(self, sent_at: float) -> None:
        self._last_ok = max(self._last_ok, sent_at)

    def expired(self) -> bool:
        return self._now() - self._last_ok > self.ttl_s

    def since_ok(self) -> float:
        return self._now() - self._last_ok


class TakeoverRetries:
    """Bots whose takeover failed: each is tried again ``first_s`` after its first failure,
    then twice as long after each further one (at most ``max_s``)."""

    def __init__(
        self,
        first_s: float,
        max_s: float = RETRY_MAX_S,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.first_s, self.max_s = first_s, max_s
        self._now = now
        self._wait: dict[str, float] = {}
        self._at: dict[str, float] = {}

    def failed(self, bot: str) -> None:
        wait = self._wait.get(bot)
        wait = self.first_s if wait is None else min(wait * 2, self.max_s)
        self._wait[bot] = wait
        self._at[bot] = self._now() + wait

    def waiting(self, bot: str) -> bool:
        at = self._at.get(bot)
        return at is not None and self._now() < at

    def succeeded(self, bot: str) -> None:
        self._wait.pop(bot, None)
        self._at.pop(bot, None)
