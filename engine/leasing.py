"""What the engine needs of bot leases (several engines on one database, storage/leases.py).

- ``FencedLedger``: the bots' view of the store. A write refused with LeaseLost (another
  engine took the bot over) tells the engine at once, then raises as before: the bot halts.
- ``RenewalClock``: when the last renewal that succeeded was SENT, on this engine's own
  monotonic clock; past the ttl the engine can no longer prove it owns its bots.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from .errors import LeaseLost
from .models import BotStatus, DecisionRecord, EquityPoint, Fill, Order, Position, RiskState
from .ports import BotLedger

LEASE_TTL_S = 30.0  # a crashed engine's bots are taken over after this long


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
