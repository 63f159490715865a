"""LIVE bots in the engine: the broker factory, keys, the per-key lock, and ``LiveBroker`` — one
bot's orders on one exchange, from intent to end state.

``ExchangeBrokers(config)`` returns a ``PaperBroker`` for PAPER bots (on any exchange: market
data comes from the keyless public client) and a ``LiveBroker`` for LIVE ones. Building a broker
does no I/O (the engine builds throwaway ones to validate a config).

``LiveBroker.start(link)`` resolves the keys, takes the OS lock of the key, loads every order of
the bot the database holds as unresolved, looks each up, and reconciles with the exchange. Until
reconciliation has succeeded the bot does not decide (``not_ready``); it is retried. An
unresolved order (PENDING, UNKNOWN, ACKNOWLEDGED, OPEN, PARTIALLY_FILLED) blocks new orders on
its symbol (``blocked``) and is looked up with backoff until the exchange states its end; one the
exchange still does not know after its processing window is listed for reconciliation, never
silently rejected. A timer asks the bot to ``settle`` when a lookup is due.

Values, not callbacks: ``start``, ``execute``, ``settle`` and ``resolve_reconcile`` return
``Execution``s; the bot's ledger applies and stores them in one transaction each. Order states
that carry no fill are journalled here at once (the intent before any I/O above all).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from oxbot.engine.broker import Broker, BrokerLink, Execution
from oxbot.engine.errors import AuthError, ConfigError, ExchangeError, TemporaryError
from oxbot.engine.messages import Notice, ReconcileFound, ReconcileItem
from oxbot.engine.models import BotConfig, Mode, Order, OrderIntent, OrderStatus
from oxbot.engine.paper import PaperBroker
from oxbot.engine.ports import SecretsSource

from .account import AccountBook, BotsLedger
from .broker import CcxtBroker, OrderJournal, new_client_order_id
from .clients import Credentials, ExchangeClients, key_fingerprint
from .lifecycle import Watch, Watchlist
from .lock import ExchangeKeyLock
from .quirks import processing_window_s
from .reconcile import Difference, apply, reconcile

log = logging.getLogger("oxbot.live")

Resolver = SecretsSource  # exchange keys by exchange id (engine/ports.py)
RECONCILE_ACTIONS = ("ignore", "adopt")
RECONCILE_RETRY_S = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


class LiveLedger(OrderJournal, BotsLedger, Protocol):
    """What LIVE trading reads and writes of the ledger: the order journal and the stored bots
    the account check sums (the Store implements both)."""


class ExchangeBrokers:
    """The engine's broker factory when real exchanges are wired in.

    ``resolver(exchange_id)`` returns ``Credentials`` (the keyring, in the composition root: the
    engine never imports storage); ``lock_dir`` holds the per-key OS locks; ``store`` is the
    order journal; ``reconcile_action`` is what start-up does with differences ("ignore", the
    default, only lists them; "adopt" makes the database match the exchange);
    ``order_window_s`` overrides, per exchange id, how long an unknown order is looked up before
    it is listed (default: the exchange's own processing window).
    """

    def __init__(
        self,
        clients: ExchangeClients,
        store: LiveLedger,
        resolver: Resolver | None,
        lock_dir: Path | str,
        *,
        reconcile_action: str = "ignore",
        adopt_hint: str = "restart with reconcile set to 'adopt' (OXBOT_RECONCILE=adopt)",
        order_window_s: Mapping[str, float] | None = None,
        refuse_live: str = "",
    ) -> None:
        if reconcile_action not in RECONCILE_ACTIONS:
            raise ConfigError(
                f"reconcile must be one of {RECONCILE_ACTIONS}, not {reconcile_action!r}"
            )
        self.clients = clients
        self.store = store
        self.resolver = resolver
        self.lock_dir = Path(lock_dir)
        self.reconcile_action = reconcile_action
        self.adopt_hint = adopt_hint
        self.order_window_s = dict(order_window_s or {})
        self.refuse_live = refuse_live  # why LIVE bots may not start (unreadable settings)
        self.accounts = AccountBook(store)
        self._locks: dict[tuple[str, str], tuple[ExchangeKeyLock, int]] = {}

    def __call__(self, config: BotConfig) -> Broker:
        if config.mode is not Mode.LIVE:
            return PaperBroker(config.fee_rate, config.slippage_bps)
        if config.exchange == "sim":
            raise ConfigError(f"{config.name}: LIVE trading needs a real exchange, not 'sim'")
        if self.resolver is None:
            raise ConfigError(
                f"{config.name}: LIVE trading needs exchange keys and this engine "
                "has no key store; run it with `oxbot run`"
            )
        return LiveBroker(config, self)

    def check_live(self, config: BotConfig) -> None:
        """ConfigError when LIVE bots may not start in this engine (unreadable settings)."""
        if self.refuse_live:
            raise ConfigError(f"{config.name}: {self.refuse_live}")

    async def credentials(self, exchange: str) -> Credentials:
        assert self.resolver is not None
        creds = self.resolver(exchange)
        if inspect.isawaitable(creds):
            creds = await creds
        if not isinstance(creds, Credentials):
            raise ConfigError(
                f"no API keys for {exchange}: add them with `oxbot keys set {exchange}`"
            )
        return creds

    def window_s(self, client: Any) -> float:
        return self.order_window_s.get(str(client.id)) or processing_window_s(client)

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
    """A LIVE bot's broker: ``CcxtBroker`` plus keys, lock, the watch list of unresolved
    orders, and reconciliation."""

    def __init__(self, config: BotConfig, brokers: ExchangeBrokers) -> None:
        self.config = config
        self.brokers = brokers
        self.inner: CcxtBroker | None = None
        self.link = BrokerLink(config.name)
        self.watch: Watchlist | None = None
        self._slot: tuple[str, str] | None = None
        # differences found and not yet resolved, by item id (ResolveReconcile)
        self.reconcile_pending: dict[str, Difference] = {}
        self._reconciled = False
        self._reconcile_error = "not reconciled yet"
        self._reconcile_tries = 0
        self._reconcile_next = 0.0
        self._listed: set[str] = set()  # overdue orders already listed
        self._timer: asyncio.Task[None] | None = None
        self._woken_at = 0.0  # when the bot was last asked to settle (0: answered)
        self._auth_said = False
        self._lock = asyncio.Lock()  # one settle at a time: a fill is produced once

    def new_id(self) -> str:
        """clientOrderIds of LIVE orders: unique across restarts, prefixed by the bot's hash
        (reconciliation recognises our orders by it)."""
        return new_client_order_id(self.config.name)

    def order_ids(self, bot: str) -> Callable[[], str]:
        return self.new_id

    # ------------------------------------------------------------------ start

    async def start(self, link: BrokerLink) -> list[Execution]:
        """Keys, lock, private client; then every unresolved order is looked up. Returns what
        the lookups brought, for the ledger; the account is reconciled at the first
        ``settle``, right after."""
        self.link = link
        ex = self.config.exchange
        self.brokers.check_live(self.config)
        if self.inner is None:
            creds = await self.brokers.credentials(ex)
            if self._slot is None:
                self._slot = self.brokers.hold_lock(ex, creds)
            client = await self.brokers.clients.private(ex, lambda: creds)
            self.inner = CcxtBroker(client, self.brokers.clients, self.brokers.store)
            self.watch = Watchlist(self.brokers.window_s(client))
        assert self.watch is not None
        for order in await self.brokers.store.open_orders(self.config.name):
            self.watch.watch(order)
        self.brokers.accounts.register(self.config, link.holdings)
        ts = link.now_ms()
        out = await self._settle(ts, everything=True)
        if out:
            self._notice(
                "info",
                f"{self.config.name}: {len(out)} order(s) left unresolved by "
                "the last run were settled with the exchange",
            )
        # Reconciliation runs at the first settle, once what was just settled is in the ledger
        # (comparing the account with holdings that miss it would list a false difference);
        # the bot does not decide before (``not_ready``).
        self._reconciled, self._reconcile_next = False, 0.0
        if self._timer is None or self._timer.done():
            self._timer = asyncio.create_task(self._tick(), name=f"orders:{self.config.name}")
        return out

    # ------------------------------------------------------------------ orders

    async def execute(self, intent: OrderIntent, ref_price: Decimal, ts: int) -> Execution:
        if self.inner is None or self.watch is None:
            raise ConfigError(f"{self.config.name}: the live broker was not started")
        why = self.not_ready() or self.blocked().get(intent.symbol)
        if why:  # the bot checks before it decides; this is the last line
            raise TemporaryError(f"{self.config.name}: no order on {intent.symbol}: {why}")
        async with self._lock:
            placed = await self.inner.place(intent, ts)
        order = placed.order
        if not order.status.terminal:
            self.watch.watch(order)
            self._notice_unresolved(order, placed.error)
            self.link.wake()
        return placed.execution

    async def settle(self, ts: int) -> list[Execution]:
        """Look up the orders due a lookup; retry a reconciliation that has not succeeded."""
        self._woken_at = 0.0
        out = await self._settle(ts)
        if not self._reconciled and time.monotonic() >= self._reconcile_next:
            out += await self._reconcile()
        return out

    async def _settle(self, ts: int, everything: bool = False) -> list[Execution]:
        if self.inner is None or self.watch is None:
            return []
        out: list[Execution] = []
        async with self._lock:
            for w in self.watch.due(all_of_them=everything):
                try:
                    ex = await self.inner.refresh(w.order, ts=ts)
                except ExchangeError as e:  # temporary or not: it proves nothing, ask later
                    self.watch.looked_up(w, found=False, error=str(e))
                    log.warning(
                        "%s: order %s: lookup failed: %s",
                        self.config.name,
                        w.order.client_order_id,
                        e,
                    )
                    if isinstance(e, AuthError) and not self._auth_said:
                        self._auth_said = True  # said once; the lookups back off meanwhile
                        self._notice(
                            "error",
                            f"{self.config.name}: {self.config.exchange} "
                            f"refuses the API key while an order of the bot is "
                            f"unresolved ({e}); fix the key (`oxbot keys set "
                            f"{self.config.exchange}`) and restart",
                        )
                    continue
                self._auth_said = False
                found = ex.order.status not in (OrderStatus.PENDING, OrderStatus.UNKNOWN)
                self.watch.looked_up(w, found=found)
                if ex.fills or ex.order.status is not w.order.status:
                    out.append(ex)
                if ex.order.status.terminal:
                    self.watch.drop(ex.order.client_order_id)
                    self._unlist(ex.order.client_order_id)
                else:
                    self.watch.watch(ex.order)
                    if self.watch.overdue(w):
                        self._list_overdue(w)
        return out

    def blocked(self) -> dict[str, str]:
        if self.watch is None:
            return {}
        out: dict[str, str] = {}
        for o in self.watch.blocking():
            out.setdefault(
                o.symbol,
                f"order {o.client_order_id} is {o.status.value}; waiting "
                f"for the exchange to say what became of it",
            )
        return out

    def not_ready(self) -> str:
        if self._reconciled:
            return ""
        return f"waiting for reconciliation with {self.config.exchange} ({self._reconcile_error})"

    async def _tick(self) -> None:
        """Ask the bot to settle when a lookup (or a reconciliation retry) is due."""
        while True:
            await asyncio.sleep(0.05)
            now = time.monotonic()
            # A nudge not answered within a second was lost (a stopping bot drops its inbox):
            # nudge again.
            if self.watch is None or now - self._woken_at < 1.0:
                continue
            due = self.watch.next_due_in()
            retry = not self._reconciled and now >= self._reconcile_next
            if (due is not None and due <= 0) or retry:
                self._woken_at = now
                self.link.wake()

    # ------------------------------------------------------------------ reconciliation

    async def _reconcile(self) -> list[Execution]:
        """Compare with the exchange; differences are listed (or adopted, when the user chose
        "adopt" for start-up). Until this succeeds the bot does not decide."""
        assert self.inner is not None
        try:
            diffs = await reconcile(self.inner, self.config.name, self.config.symbols)
            diffs += await self.brokers.accounts.check(self.inner, self.config)
        except ExchangeError as e:
            self._reconciled = False
            self._reconcile_error = str(e)
            delay = RECONCILE_RETRY_S[min(self._reconcile_tries, len(RECONCILE_RETRY_S) - 1)]
            self._reconcile_tries += 1
            self._reconcile_next = time.monotonic() + delay
            if self._reconcile_tries == 1 or self._reconcile_tries % 10 == 0:
                self._notice(
                    "warning",
                    f"{self.config.name}: reconciliation with "
                    f"{self.config.exchange} failed ({e}); the bot makes no decision "
                    f"until it succeeds (retrying in {delay:g} s)",
                )
            return []
        if not self._reconciled and self._reconcile_tries:
            self._notice(
                "info", f"{self.config.name}: reconciled with {self.config.exchange}; trading"
            )
        self._reconciled, self._reconcile_error, self._reconcile_tries = True, "", 0
        for d in diffs:
            if d.kind == "info":
                self._notice("info", f"{self.config.name}: {d.detail}")
        diffs = [d for d in diffs if d.kind != "info"]
        if not diffs:
            log.info("%s: database and %s agree", self.config.name, self.config.exchange)
            return []
        out: list[Execution] = []
        for d in diffs:
            if self.brokers.reconcile_action == "adopt" and "adopt" in d.actions:
                ex = await apply(self.inner, self.config.name, d, "adopt")
                if ex is not None:
                    out.append(ex)
                self._notice("warning", f"{self.config.name}: {d.kind}: {d.detail}: adopted")
                continue
            self._notice("warning", self._ignored(d))
            self.reconcile_pending[_item_id(d)] = d
        self._publish_pending()
        return out

    def reconcile_items(self) -> tuple[ReconcileItem, ...]:
        return tuple(
            ReconcileItem(i, d.kind, d.symbol, d.detail, d.actions)
            for i, d in self.reconcile_pending.items()
        )

    async def resolve_reconcile(self, item_id: str, action: str) -> tuple[str, list[Execution]]:
        d = self.reconcile_pending.get(item_id)
        if d is None:
            raise ConfigError(
                f"{self.config.name}: no open reconciliation item {item_id!r} (already resolved?)"
            )
        if action not in d.actions:
            raise ConfigError(
                f"{self.config.name}: {action!r} is not possible for a {d.kind}; "
                f"choose one of {', '.join(d.actions)}"
            )
        if self.inner is None or self.watch is None:
            raise ConfigError(f"{self.config.name}: the live broker was not started")
        out: list[Execution] = []
        async with self._lock:
            ex = await apply(self.inner, self.config.name, d, action)
        if ex is not None:
            out.append(ex)
            if ex.order.status.terminal:
                self.watch.drop(ex.order.client_order_id)
            else:
                self.watch.watch(ex.order)
        del self.reconcile_pending[item_id]
        self._listed.discard(d.client_order_id)
        self._publish_pending()
        done = "adopted" if action == "adopt" else "ignored"
        log.warning("%s: %s: %s: %s by the user", self.config.name, d.kind, d.detail, done)
        return f"{self.config.name}: {d.kind} {d.symbol} {done}", out

    def _list_overdue(self, w: Watch) -> None:
        coid = w.order.client_order_id
        if coid in self._listed:
            return
        self._listed.add(coid)
        age = time.monotonic() - w.since
        d = Difference(
            "unknown",
            w.order.symbol,
            f"order {coid} ({w.order.side.value} {w.order.qty}) was sent but the "
            f"exchange has not shown it in {w.lookups} lookups over {age:.0f} s; it "
            "was probably never placed. It is still looked up, and no new order is "
            f"placed on {w.order.symbol} until it is resolved",
            coid,
        )
        self.reconcile_pending[_item_id(d)] = d
        self._notice("warning", self._ignored(d))
        self._publish_pending()

    def _unlist(self, coid: str) -> None:
        if coid not in self._listed:
            return
        self._listed.discard(coid)
        for key in [k for k, d in self.reconcile_pending.items() if d.client_order_id == coid]:
            del self.reconcile_pending[key]
        self._publish_pending()

    def _publish_pending(self) -> None:
        self.link.publish(
            ReconcileFound(self.link.now_ms(), self.config.name, self.reconcile_items())
        )

    def _ignored(self, d: Difference) -> str:
        how = f"; to adopt it, {self.brokers.adopt_hint}" if "adopt" in d.actions else ""
        return f"{self.config.name}: {d.kind}: {d.detail}: listed for reconciliation{how}"

    def _notice_unresolved(self, order: Order, error: Exception | None) -> None:
        why = f" ({error})" if error else ""
        self._notice(
            "warning",
            f"{self.config.name}: order {order.client_order_id} "
            f"{order.side.value} {order.qty} {order.symbol} is {order.status.value}"
            f"{why}; looking it up, no new order on {order.symbol} meanwhile",
        )

    # ------------------------------------------------------------------ shutdown

    async def close(self) -> None:
        """Stop the lookup timer and release the key lock; the client itself is closed with
        ExchangeClients."""
        if self._timer is not None:
            self._timer.cancel()
            await asyncio.gather(self._timer, return_exceptions=True)
            self._timer = None
        self.brokers.accounts.unregister(self.config.name)
        if self._slot is not None:
            self.brokers.drop_lock(self._slot)
            self._slot = None

    def _notice(self, level: str, message: str) -> None:
        log.log(logging.WARNING if level != "info" else logging.INFO, "%s", message)
        self.link.publish(Notice(self.link.now_ms(), level, message, self.config.name))


def _item_id(d: Difference) -> str:
    """Stable within a run: orders by their clientOrderId, balances by symbol."""
    return f"{d.kind}:{d.client_order_id or d.symbol}"
