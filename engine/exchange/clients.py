"""ccxt client factory and registry: keyless public clients (PAPER), keyed private clients (LIVE),
markets loaded once per exchange, a circuit breaker per exchange, everything closed on shutdown.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from oxbot.engine.errors import BadSymbol, ConfigError
from oxbot.engine.models import to_decimal

from .endpoints import point_at  # noqa: F401 - re-exported: tests and the CLI use it here
from .retry import BreakerListener, CircuitBreaker, RetryPolicy, Sleep, call_with_retry

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Credentials:
    """Exchange keys. ``repr`` never shows them (they must not reach logs or exceptions)."""

    api_key: str
    secret: str = field(repr=False)
    password: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return f"Credentials(key_id={key_fingerprint(self.api_key)})"

    __str__ = __repr__


def key_fingerprint(api_key: str) -> str:
    """A short, non-reversible name for a key (file names, logs)."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


KeyResolver = Callable[[], "Credentials | Awaitable[Credentials]"]


@dataclass(frozen=True, slots=True)
class MarketInfo:
    """What sizing and the risk manager need from a market. 0 means "no constraint known"."""

    symbol: str
    amount_step: Decimal
    price_step: Decimal
    min_qty: Decimal
    min_notional: Decimal


def _step(value: Any, mode: int) -> Decimal:
    if value is None:
        return Decimal(0)
    import ccxt  # noqa: PLC0415 - ccxt is heavy; the engine imports this module lazily anyway

    if mode == ccxt.TICK_SIZE:
        return to_decimal(value)
    if mode == ccxt.DECIMAL_PLACES:
        return Decimal(1).scaleb(-int(value))
    return Decimal(0)  # significant digits: no fixed step


def market_info(client: Any, market: Mapping[str, Any]) -> MarketInfo:
    """``MarketInfo`` from one ccxt unified market."""
    limits = market.get("limits") or {}
    prec = market.get("precision") or {}
    mode = getattr(client, "precisionMode", 0)

    def lim(kind: str) -> Decimal:
        v = (limits.get(kind) or {}).get("min")
        return to_decimal(v) if v is not None else Decimal(0)

    return MarketInfo(
        symbol=market["symbol"],
        amount_step=_step(prec.get("amount"), mode),
        price_step=_step(prec.get("price"), mode),
        min_qty=lim("amount"),
        min_notional=lim("cost"),
    )


def _strict_json(client: Any) -> None:
    """ccxt turns a truncated JSON body into a reply full of None (candles of None, a ticker
    without a price). Make it raise ``BadResponse`` (temporary) instead."""
    import ccxt  # noqa: PLC0415

    lenient = client.parse_json

    def strict(body: Any) -> Any:
        out = lenient(body)
        if out is None and isinstance(body, str) and body.lstrip()[:1] in ("{", "["):
            raise ccxt.BadResponse(f"{client.id} sent malformed JSON: {body[:60]!r}")
        return out

    client.parse_json = strict


PROXIES = ("httpProxy", "httpsProxy", "socksProxy", "http_proxy", "https_proxy", "socks_proxy")


def _urls(tree: Any, path: str = "") -> dict[str, str]:
    """ccxt's ``urls['api']`` flattened: "group/sub" -> URL (the websocket ones under "ws/")."""
    if isinstance(tree, dict):
        return {k: u for key, v in tree.items() for k, u in _urls(v, f"{path}{key}/").items()}
    return {path: tree} if isinstance(tree, str) else {}


class ExchangeClients:
    """Creates and owns every ccxt client of the engine; ``close_all()`` on shutdown.

    ``config`` maps exchange id -> extra ccxt constructor options (timeouts, options);
    ``configure(client)`` runs on each new client (tests point it at the fake exchange).
    """

    def __init__(
        self,
        *,
        config: Mapping[str, Mapping[str, Any]] | None = None,
        configure: Callable[[Any], None] | None = None,
        policy: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
        on_breaker_change: BreakerListener | None = None,
        breaker_threshold: int = 5,
        breaker_cooldown_s: float = 30.0,
        rng: random.Random | None = None,
        policies: Mapping[str, RetryPolicy] | None = None,
        breakers: Mapping[str, tuple[int, float]] | None = None,
    ) -> None:
        self._config = dict(config or {})
        self._configure = configure
        self.policy = policy or RetryPolicy()
        # per exchange id: the user's retry policy and breaker (threshold, cooldown) settings
        self._policies = dict(policies or {})
        self._breaker_settings = dict(breakers or {})
        self.sleep = sleep
        self.rng = rng or random.Random()
        self._on_breaker_change = on_breaker_change
        self._threshold, self._cooldown = breaker_threshold, breaker_cooldown_s
        self._public: dict[str, Any] = {}
        self._private: dict[tuple[str, str], Any] = {}
        self._streaming: dict[str, Any] = {}  # exchange id -> its one ccxt.pro client
        self._no_streaming: dict[str, str] = {}  # or why it has none
        self._breakers: dict[str, CircuitBreaker] = {}
        self._markets: dict[str, dict[str, MarketInfo]] = {}
        self._market_locks: dict[str, asyncio.Lock] = {}

    def _new(self, exchange_id: str, creds: Credentials | None, *, pro: bool = False) -> Any:
        import ccxt.async_support as ccxt_async  # noqa: PLC0415

        if pro:  # ccxt.pro: the same REST API plus the exchange's websocket streams
            import ccxt.pro as ccxt_async  # noqa: PLC0415

        cls = getattr(ccxt_async, exchange_id, None)
        if cls is None or exchange_id not in ccxt_async.exchanges:
            raise ConfigError(
                f"unknown exchange {exchange_id!r}: use a ccxt exchange id such as "
                "'binance' (see ccxt.exchanges)"
            )
        options: dict[str, Any] = {
            "enableRateLimit": True,
            "options": {
                "fetchCurrencies": False,
                "fetchMarkets": {"types": ["spot"]},
                "fetchMargins": False,
                "defaultType": "spot",
            },
        }
        extra = dict(self._config.get(exchange_id, {}))
        options["options"].update(extra.pop("options", {}))
        options.update(extra)
        if creds is not None:
            options.update(apiKey=creds.api_key, secret=creds.secret)
            if creds.password:
                options["password"] = creds.password
        client = cls(options)
        _strict_json(client)
        if self._configure is not None:
            self._configure(client)
        return client

    def public(self, exchange_id: str) -> Any:
        """The shared keyless client of an exchange (PAPER and market data: never keys)."""
        if exchange_id not in self._public:
            self._public[exchange_id] = self._new(exchange_id, None)
        return self._public[exchange_id]

    def streaming(self, exchange_id: str) -> tuple[Any, str]:
        """The shared keyless ccxt.pro client of an exchange for its websocket streams, made
        like ``public`` (same options, same ``configure``), or None and why there is none.

        One client per exchange: ccxt.pro keeps one connection per stream URL and binance puts
        every kline subscription on the same URL (ccxt/pro/binance.py ``watch_ohlcv_for_symbols``:
        ``url = ... + '/' + self.stream(type, 'multipleOHLCV')``). When ``configure`` moved the
        REST URLs (a proxy, a testnet URL, a local fake) but left the websocket ones at the
        exchange, the websocket is not used: the data would come from somewhere else."""
        if exchange_id in self._streaming:
            return self._streaming[exchange_id], ""
        if exchange_id in self._no_streaming:
            return None, self._no_streaming[exchange_id]
        try:
            client, why = self._new_streaming(exchange_id)
        except Exception as e:  # noqa: BLE001 - its settings fit REST only: REST it is
            client, why = None, f"no websocket client: {e}"
        if client is None:
            self._no_streaming[exchange_id] = why
        else:
            self._streaming[exchange_id] = client
        return client, why

    def _new_streaming(self, exchange_id: str) -> tuple[Any, str]:
        import ccxt.pro  # noqa: PLC0415

        if exchange_id not in ccxt.pro.exchanges:
            return None, "ccxt.pro has no websocket client for it"
        before = _urls(getattr(ccxt.pro, exchange_id)().urls.get("api"))
        client = self._new(exchange_id, None, pro=True)
        if not client.has.get("watchOHLCV"):
            return None, "ccxt.pro cannot watch its candles"
        after = _urls(client.urls.get("api"))
        ws_moved = {k: u for k, u in after.items() if k.startswith("ws/") and before.get(k) != u}
        if any(getattr(client, a, None) for a in PROXIES):
            # ccxt.pro's websockets use their own proxy settings (wsProxy, wssProxy,
            # wsSocksProxy; base/exchange.py check_ws_proxy_settings): never around the user's
            return None, "a proxy is set for it"
        if after != before and not ws_moved:
            return None, "its REST URL is set and its websocket URL is not"
        if any(not u.startswith(("ws://", "wss://")) for u in ws_moved.values()):
            # ``point_at`` (the ``url`` setting) moves every group, the websocket ones too, to
            # an http(s) gateway: a REST endpoint, not the exchange's streams
            return None, "its websocket URL was set to an http(s) URL"
        return client, ""

    async def private(self, exchange_id: str, resolver: KeyResolver) -> Any:
        """A keyed client (LIVE). ``resolver`` returns ``Credentials`` (from the keyring);
        clients are shared per (exchange, key)."""
        creds = resolver()
        if inspect.isawaitable(creds):
            creds = await creds
        assert isinstance(creds, Credentials)
        slot = (exchange_id, key_fingerprint(creds.api_key))
        if slot not in self._private:
            client = self._new(exchange_id, creds)
            self._private[slot] = client
            markets = self._markets.get(exchange_id)
            pub = self._public.get(exchange_id)
            if markets is not None and pub is not None and pub.markets:
                client.set_markets(pub.markets, pub.currencies)  # loaded once per exchange
        return self._private[slot]

    def breaker(self, exchange_id: str) -> CircuitBreaker:
        if exchange_id not in self._breakers:
            threshold, cooldown = self._breaker_settings.get(
                exchange_id, (self._threshold, self._cooldown)
            )
            self._breakers[exchange_id] = CircuitBreaker(
                exchange_id,
                threshold=threshold,
                cooldown_s=cooldown,
                on_change=self._on_breaker_change,
            )
        return self._breakers[exchange_id]

    async def read(self, client: Any, fn: Callable[[], Awaitable[T]], attempted: str) -> T:
        """Run one READ through the exchange's breaker with backoff and jitter."""

        def retry_after() -> float | None:
            headers = getattr(client, "last_response_headers", None) or {}
            value = headers.get("Retry-After") or headers.get("retry-after")
            try:
                return float(value) if value is not None else None
            except ValueError:
                return None

        policy = self._policies.get(str(client.id), self.policy)
        return await call_with_retry(
            fn,
            f"{attempted} on {client.id}",
            policy=policy,
            sleep=self.sleep,
            breaker=self.breaker(client.id),
            rng=self.rng,
            retry_after_of=retry_after,
        )

    async def markets(self, exchange_id: str) -> dict[str, MarketInfo]:
        """Markets of an exchange, loaded once (through the public client) and cached."""
        lock = self._market_locks.setdefault(exchange_id, asyncio.Lock())
        async with lock:
            if exchange_id not in self._markets:
                client = self.public(exchange_id)
                raw = await self.read(client, client.load_markets, "load markets")
                self._markets[exchange_id] = {s: market_info(client, m) for s, m in raw.items()}
                for slot, priv in self._private.items():
                    if slot[0] == exchange_id and not priv.markets:
                        priv.set_markets(client.markets, client.currencies)
        return self._markets[exchange_id]

    async def market_info(self, exchange_id: str, symbol: str) -> MarketInfo:
        markets = await self.markets(exchange_id)
        try:
            return markets[symbol]
        except KeyError:
            raise BadSymbol(
                f"{symbol} is not a market on {exchange_id}; check the symbol "
                "(BASE/QUOTE, e.g. BTC/USDT)"
            ) from None

    async def close_all(self) -> None:
        """Close every client (aiohttp sessions); safe to call twice."""
        clients = [*self._public.values(), *self._private.values(), *self._streaming.values()]
        self._public.clear()
        self._private.clear()
        self._streaming.clear()
        for client in clients:
            try:
                await client.close()
            except Exception:  # noqa: BLE001 - closing must go on for the others
                log.warning(
                    "closing the %s client failed", getattr(client, "id", "?"), exc_info=True
                )
