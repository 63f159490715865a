"""LIVE bots in the engine: the broker factory, keys, the per-key lock, restart settlement and
start-up reconciliation around ``CcxtBroker``.

``ExchangeBrokers(config)`` returns a ``PaperBroker`` for PAPER bots (on any exchange: market
data comes from the keyless public client) and a ``LiveBroker`` for LIVE ones. Building a broker
does no I/O (the engine builds throwaway ones to validate a config); ``LiveBroker.start(runner)``,
called by the engine before the bot runs, resolves the keys, takes the OS lock of the key,
settles the bot's PENDING orders with the exchange and reconciles the rest.

Fills are written once, with their order's final state, in ONE transaction (the runner's
``record_executions`` / cycle). The journal ``CcxtBroker`` writes to therefore only receives the
PENDING intent (before any I/O) and final states that carry no fills (rejected, cancelled): an
order is never marked FILLED in the database without its fills. A crash in between leaves it
PENDING, and the next ``settle`` (before the next order, or at restart) looks it up by
clientOrderId and records its fills.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from oxbot.engine.broker import Broker, Execution
from oxbot.engine.errors import ConfigError, ExchangeError, TemporaryError
from oxbot.engine.messages import Notice, ReconcileFound, ReconcileItem
from oxbot.engine.models import BotConfig, Fill, Mode, Order, OrderIntent, OrderStatus
from oxbot.engine.paper import PaperBroker

from .broker import CcxtBroker, _with, new_client_order_id
from .clients import Credentials, ExchangeClients, key_fingerprint
from .lock import ExchangeKeyLock
from .reconcile import Difference, apply, reconcile

log = logging.getLogger("oxbot.live")

Resolver = Callable[[str], "Credentials | Awaitable[Credentials]"]
RECONCILE_ACTIONS = ("ignore", "adopt")


class _IntentJournal:
    """The store as ``CcxtBroker`` sees it: PENDING intents and fill-less outcomes are written
    at once; states that come with fills wait for the runner's single transaction."""

    WRITE_NOW = (OrderStatus.PENDING, OrderStatus.REJECTED, OrderStatus.CANCELED)

    def __init__(self, store: Any) -> None:
        self.store = store

    async def save_order(self, order: Order) -> None:
        if order.status in self.WRITE_NOW:
            await self.store.save_order(order)

    async def get_order(self, client_order_id: str) -> Order | None:
        return await self.store.get_order(client_order_id)  # type: ignore[no-any-return]

    async def open_orders(self, bot: str) -> Sequence[Order]:
        return await self.store.open_orders(bot)  # type: ignore[no-any-return]

    async def record_cycle(self, bot: str, **kw: Any) -> Any:
        return await self.store.record_cycle(bot, **kw)


class ExchangeBrokers:
    """The engine's broker factory when real exchanges are wired in.

    ``resolver(exchange_id)`` returns ``Credentials`` (the keyring, in the composition root: the
    engine never imports storage); ``lock_dir`` holds the per-key OS locks; ``store`` is the
    order journal; ``reconcile_action`` is what start-up does with differences ("ignore", the
    default, only reports them; "adopt" makes the database match the exchange).
    """

    def __init__(self, clients: ExchangeClients, store: Any, resolver: Resolver | None,
                 lock_dir: Path | str, *, reconcile_action: str = "ignore",
                 adopt_hint: str = "restart with reconcile set to 'adopt' "
                                   "(OXBOT_RECONCILE=adopt)") -> None:
        if reconcile_action not in RECONCILE_ACTIONS:
            raise ConfigError(f"reconcile must be one of {RECONCILE_ACTIONS}, "
                              f"not {reconcile_action!r}")
        self.clients = clients
        self.store = store
        self.resolver = resolver
        self.lock_dir = Path(lock_dir)
        self.reconcile_action = reconcile_action
        self.adopt_hint = adopt_hint
        self._locks: dict[tuple[str, str], tuple[ExchangeKeyLock, int]] = {}

    def __call__(self, config: BotConfig) -> Broker:
        if config.mode is not Mode.LIVE:
            return PaperBroker(config.fee_rate, config.slippage_bps)
        if config.exchange == "sim":
            raise ConfigError(f"{config.name}: LIVE trading needs a real exchange, not 'sim'")
        if self.resolver is None:
            raise ConfigError(f"{config.name}: LIVE trading needs exchange keys and this engine "
                              "has no key store; run it with `oxbot run`")
        return LiveBroker(config, self)

    async def credentials(self, exchange: str) -> Credentials:
        assert self.resolver is not None
        creds = self.resolver(exchange)
        if inspect.isawaitable(creds):
            creds = await creds
        if not isinstance(creds, Credentials):
            raise ConfigError(f"no API keys for {exchange}: add them with "
                              f"`oxbot keys set {exchange}`")
        return creds

    def hold_lock(self, exchange: str, creds: Credentials) -> tuple[str, str]:
        """Take (or share, inside this engine) the OS lock of the key; KeyInUse otherwise."""
        slot = (exchange, key_fingerprint(creds.api_key))
        lock, n = self._locks.get(slot, (None, 0))
        if lock is None:
            lock = ExchangeKeyLock(self.lock_dir, exchange, creds.api_key)
            lock.acquire()
        self._locks[slot] = (lock, n + 1)
        return slot

    def drop_lock(self, slot: tuple[str, str]) -> None:
        lock, n = self._locks.get(slot, (None, 0))
        if lock is None:
            return
        if n <= 1:
            lock.release()
            del self._locks[slot]
        else:
            self._locks[slot] = (lock, n - 1)


class LiveBroker(Broker):
    """A LIVE bot's broker: ``CcxtBroker`` plus keys, lock, settlement and reconciliation.

    ``start(runner)`` must run before ``execute``; ``runner`` is the bot's runner (``name``,
    ``portfolio``, ``bus``, ``record_executions(executions, ts)``)."""

    def __init__(self, config: BotConfig, brokers: ExchangeBrokers) -> None:
        self.config = config
        self.brokers = brokers
        self.inner: CcxtBroker | None = None
        self.runner: Any = None
        self._slot: tuple[str, str] | None = None
        # differences found at start and not yet resolved, by item id (ResolveReconcile)
        self.reconcile_pending: dict[str, Difference] = {}
        # an order may be PENDING (a fault hid its outcome): look it up on the next cycle
        self._unsettled = True

    def new_id(self) -> str:
        """clientOrderIds of LIVE orders: unique across restarts, prefixed by the bot's hash
        (reconciliation recognises our orders by it)."""
        return new_client_order_id(self.config.name)

    # ------------------------------------------------------------------ start

    async def start(self, runner: Any) -> None:
        """Keys, lock, private client; then settle PENDING orders and reconcile."""
        self.runner = runner
        ex = self.config.exchange
        if self.inner is None:
            creds = await self.brokers.credentials(ex)
            if self._slot is None:
                self._slot = self.brokers.hold_lock(ex, creds)
            client = await self.brokers.clients.private(ex, lambda: creds)
            self.inner = CcxtBroker(client, self.brokers.clients,
                                    _IntentJournal(self.brokers.store))
        ts = self._now()
        settled = await self.settle(ts=ts)
        if settled:
            await runner.record_executions(settled, ts)
            self._notice("info", f"{self.config.name}: {len(settled)} order(s) left unsettled "
                         "by the last run were settled with the exchange")
        await self._reconcile(ts)

    async def _reconcile(self, ts: int) -> None:
        assert self.inner is not None
        held = {s: p.qty for s, p in self.runner.portfolio.positions.items()}
        positions = {s: held.get(s, Decimal(0)) for s in self.config.symbols}
        try:
            diffs = await reconcile(self.inner, self.config.name, self.config.symbols,
                                    positions)
        except ExchangeError as e:
            self._notice("warning", f"{self.config.name}: reconciliation with "
                         f"{self.config.exchange} failed ({e}); will trade on the database's "
                         "view")
            return
        if not diffs:
            log.info("%s: database and %s agree", self.config.name, self.config.exchange)
            return
        adopted = []
        self.reconcile_pending = {}
        for d in diffs:
            if self.brokers.reconcile_action == "adopt" and "adopt" in d.actions:
                ex = await apply(self.inner, self.config.name, d, "adopt")
                if ex is not None:
                    adopted.append(ex)
                self._notice("warning", f"{self.config.name}: {d.kind}: {d.detail}: adopted")
            else:
                self._notice("warning", self._ignored(d))
                self.reconcile_pending[_item_id(d)] = d
        if adopted:
            await self.runner.record_executions(adopted, ts)
        if self.reconcile_pending:  # a display offers adopt / ignore per item
            self._publish_pending()

    def reconcile_items(self) -> tuple[ReconcileItem, ...]:
        """The differences still waiting for the user's choice."""
        return tuple(ReconcileItem(i, d.kind, d.symbol, d.detail, d.actions)
                     for i, d in self.reconcile_pending.items())

    async def resolve_reconcile(self, item_id: str, action: str) -> str:
        """Carry out the user's choice for one difference (``reconcile.apply``), record what
        adopting brought into the ledger, and publish the items still open."""
        d = self.reconcile_pending.get(item_id)
        if d is None:
            raise ConfigError(f"{self.config.name}: no open reconciliation item {item_id!r} "
                              "(already resolved?)")
        if action not in d.actions:
            raise ConfigError(f"{self.config.name}: {action!r} is not possible for a {d.kind}; "
                              f"choose one of {', '.join(d.actions)}")
        if self.inner is None:
            raise ConfigError(f"{self.config.name}: the live broker was not started")
        ex = await apply(self.inner, self.config.name, d, action)
        if ex is not None:
            # the bot may be trading: write under its lock, like a settled order in execute
            busy = getattr(self.runner, "_busy", None)
            if busy is not None:
                async with busy:
                    await self.runner.record_executions([ex], self._now())
            else:
                await self.runner.record_executions([ex], self._now())
        del self.reconcile_pending[item_id]
        self._publish_pending()
        done = "adopted" if action == "adopt" else "ignored"
        log.warning("%s: %s: %s: %s by the user", self.config.name, d.kind, d.detail, done)
        return f"{self.config.name}: {d.kind} {d.symbol} {done}"

    def _publish_pending(self) -> None:
        bus = getattr(self.runner, "bus", None)
        if bus is not None:
            bus.publish(ReconcileFound(self._now(), self.config.name, self.reconcile_items()))

    def _ignored(self, d: Difference) -> str:
        how = f"; to adopt it, {self.brokers.adopt_hint}" if "adopt" in d.actions else ""
        return f"{self.config.name}: {d.kind}: {d.detail}: ignored{how}"

    # ------------------------------------------------------------------ orders

    async def settle(self, exclude: str = "", ts: int = 0) -> list[Execution]:
        """Look up every PENDING order of the bot on the exchange: adopt what it has (with the
        fills not yet in the ledger), reject what it never received. Orders it cannot reach
        now stay PENDING for the next try. New fills are stamped ``ts`` (at least the last
        stored fill's): the ledger replays fills in the order they were applied."""
        assert self.inner is not None
        store = self.brokers.store
        pending = [o for o in await store.open_orders(self.config.name)
                   if o.status is OrderStatus.PENDING and o.client_order_id != exclude]
        self._unsettled = bool(pending)
        if not pending:
            return []
        unreached = 0
        stored = await store.load_fills(self.config.name)
        known = {f.fill_id for f in stored}
        ts = max([ts, *(f.ts for f in stored[-1:])])
        out: list[Execution] = []
        for order in pending:
            try:
                raw = await self.inner.find_order(order.symbol, order.client_order_id)
                if raw is None:  # never reached the exchange: nothing was placed
                    rejected = _with(order, OrderStatus.REJECTED)
                    await store.save_order(rejected)
                    log.info("%s: order %s never reached the exchange", self.config.name,
                             order.client_order_id)
                    continue
                ex = await self.inner._adopt(order, raw)
            except TemporaryError as e:
                log.warning("%s: order %s still unsettled: %s", self.config.name,
                            order.client_order_id, e)
                unreached += 1
                continue
            fills = _stamped((f for f in ex.fills if f.fill_id not in known), ts)
            out.append(Execution(ex.order, fills))
        self._unsettled = unreached > 0
        return out

    @property
    def unsettled(self) -> bool:
        return self._unsettled

    async def settle_pending(self, ts: int) -> list[Execution]:
        """Settle what a fault left PENDING at the start of the next cycle, not only before
        the next order: a fill the exchange made reaches the ledger even if the strategy then
        holds for hours. One flag check when nothing is pending."""
        if not self._unsettled or self.inner is None:
            return []
        return await self.settle(ts=ts)

    async def execute(self, intent: OrderIntent, ref_price: Decimal, ts: int) -> Execution:
        if self.inner is None or self.runner is None:
            raise ConfigError(f"{self.config.name}: the live broker was not started")
        settled = await self.settle(exclude=intent.client_order_id, ts=ts)
        if settled:  # the runner's lock is held by the caller of execute
            await self.runner.record_executions(settled, ts)
        try:
            ex = await self.inner.execute(intent, ref_price, ts)
        except BaseException:
            self._unsettled = True  # its journal entry may be left PENDING
            raise
        return Execution(ex.order, _stamped(ex.fills, ts))

    async def close(self) -> None:
        """Release the key lock; the client itself is closed with ExchangeClients."""
        if self._slot is not None:
            self.brokers.drop_lock(self._slot)
            self._slot = None

    # ------------------------------------------------------------------ helpers

    def _now(self) -> int:
        return int(getattr(self.runner, "last_cycle_ts", 0) or 0)

    def _notice(self, level: str, message: str) -> None:
        log.log(logging.WARNING if level != "info" else logging.INFO, "%s", message)
        bus = getattr(self.runner, "bus", None)
        if bus is not None:
            bus.publish(Notice(self._now(), level, message, self.config.name))



def _item_id(d: Difference) -> str:
    """Stable within a run: orders by their clientOrderId, balances by symbol."""
    return f"{d.kind}:{d.client_order_id or d.symbol}"


def _stamped(fills: Any, ts: int) -> tuple[Fill, ...]:
    """Fills stamped with the engine time they are applied at. Trade times differ by source
    (an order's reply carries none, a trade lookup the exchange's): the wallet is rebuilt from
    fills in time order, which must be the order they were applied in."""
    return tuple(dataclasses.replace(f, ts=ts) for f in fills)
