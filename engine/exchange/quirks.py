"""What oxbot must know of an exchange beyond ccxt's unified calls, in one place.

ccxt's own metadata first, never a list of names kept here:

- the fields of an API key: ``requiredCredentials`` (ccxt/base/exchange.py, class attribute
  ``requiredCredentials`` near line 305 and ``describe()`` near line 3026; an exchange overrides
  it in its ``describe()``, e.g. ccxt/okx.py near line 759: ``{'apiKey': True, 'secret': True,
  'password': True}``), checked by ccxt itself in ``check_required_credentials``;
- a sandbox (testnet): ``urls['test']``, what ``set_sandbox_mode`` switches to and raises
  NotSupported without (ccxt/base/exchange.py ``set_sandbox_mode``, near line 3498);
- an exchange's family: its ccxt class and the classes it derives from (ccxt's ``myokx`` and
  ``okxus`` are ``class myokx(okx)``), so a table keyed by ``okx`` covers its regional sites.

What ccxt does not carry is documented per exchange and kept in the two tables below, each with
its source: how long an exchange may still apply a request after it was sent, and the words
with which an exchange says a clientOrderId exists already.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError

# How long after a request an exchange may still apply it, when its client does not say:
# - Binance: the ``recvWindow`` ccxt signs with (``options['recvWindow']``, read from the client
#   by ``processing_window_s``; Binance's matching engine checks it again, so a request can be
#   applied up to that long after it was signed);
# - OKX v5: requests whose OK-ACCESS-TIMESTAMP is more than 30 s old are rejected (error 50102,
#   "Timestamp request expired").
DEFAULT_PROCESSING_WINDOW_S = 60.0
PROCESSING_WINDOW_S: Mapping[str, float] = {"okx": 30.0}

# Exchange texts that mean "that clientOrderId exists already". ccxt raises its own
# DuplicateOrderId for some codes; others arrive as a plain InvalidOrder or ExchangeError whose
# text carries the exchange's words:
# - Binance spot: code -2010 "Duplicate order sent." (ccxt binance.py maps -2010 by message);
# - OKX v5: sCode 51016 "Duplicated clOrdId" (ccxt okx.py maps '51016' to InvalidOrder);
# - Bybit: 10014/170141 "Duplicate clientOrderId" / "duplicate orderLinkId";
# - KuCoin: "clientOid" ... "duplicate".
DUPLICATE_ORDER_MARKERS: Mapping[str, tuple[str, ...]] = {
    "binance": ("Duplicate order sent",),
    "okx": ("Duplicated clOrdId", '"sCode":"51016"', "51016"),
    # Bybit 10014 "Request is duplicate" (ccxt bybit.py maps it to BadRequest, a refusal): the
    # first copy of the request got through (a gateway or proxy re-sent it)
    "bybit": (
        "Duplicate clientOrderId",
        "duplicate orderLinkId",
        "OrderLinkedID is duplicate",
        "Request is duplicate",
    ),
    "kucoin": ("clientOid is duplicated", "duplicate clientOid"),
    "": (
        "duplicate clientOrderId",
        "clientOrderId is duplicated",
        "Duplicate clOrdId",
        "Duplicated clOrdId",
        "Duplicate order sent",
    ),
}


def family(client: Any) -> tuple[str, ...]:
    """The ccxt ids of ``client``'s exchange and of the exchanges it derives from, nearest
    first (``myokx`` -> ``("myokx", "okx")``). ccxt names each exchange class after its id."""
    ids = [str(getattr(client, "id", ""))]
    for cls in type(client).__mro__:
        module = cls.__module__
        if (
            module.startswith("ccxt.")
            and module.rsplit(".", 1)[-1] == cls.__name__
            and cls.__name__ not in ids
        ):
            ids.append(cls.__name__)
    return tuple(i for i in ids if i)


def processing_window_s(client: Any) -> float:
    """How long ``client``'s exchange may apply a request after it was sent."""
    options = getattr(client, "options", None) or {}
    recv = options.get("recvWindow") if isinstance(options, dict) else None
    if isinstance(recv, int | float) and recv > 0:
        return float(recv) / 1000
    for exchange in family(client):
        if exchange in PROCESSING_WINDOW_S:
            return PROCESSING_WINDOW_S[exchange]
    return DEFAULT_PROCESSING_WINDOW_S


def has_sandbox(client: Any) -> bool:
    """Whether ccxt knows a sandbox (testnet) of the exchange: ``set_sandbox_mode`` switches
    ``urls['api']`` to ``urls['test']`` and refuses without one."""
    urls = getattr(client, "urls", None) or {}
    return isinstance(urls, dict) and isinstance(urls.get("test"), dict | str)


@functools.lru_cache(maxsize=64)
def required_credentials(exchange: str) -> Mapping[str, bool] | None:
    """The credentials ccxt says ``exchange``'s private API needs (``{'apiKey': True, 'secret':
    True, 'password': True}`` for okx), only those required; None when ccxt has no such
    exchange. Imports ccxt (slow the first time)."""
    try:
        import ccxt  # noqa: PLC0415 - slow to import; only when a key's fields are asked

        cls = getattr(ccxt, exchange, None)
        if not isinstance(cls, type) or exchange not in ccxt.exchanges:
            return None
        required = cls().requiredCredentials
    except Exception:  # noqa: BLE001 - an exchange ccxt cannot build is one it does not have
        return None
    return {k: True for k, v in dict(required).items() if v is True}


def needs_passphrase(exchange: str) -> bool:
    """Whether the exchange's keys carry a passphrase (ccxt's ``password``: OKX, KuCoin,
    Bitget, ...)."""
    return bool((required_credentials(exchange) or {}).get("password"))


def key_and_secret_only(exchange: str) -> bool:
    """Whether an API key and its secret are all the exchange asks (Binance, Kraken, ...)."""
    return set(required_credentials(exchange) or ()) == {"apiKey", "secret"}


def check_exchange_id(exchange: str) -> None:
    """ConfigError for an exchange id that is neither 'sim' nor one of ccxt's (``ccxt.exchanges``):
    a typo must be refused when the bot is added or changed, not saved and failing at start."""
    if exchange == "sim":
        return
    import ccxt  # noqa: PLC0415 - slow to import; only bots on a real exchange need it

    if exchange not in ccxt.exchanges:
        raise ConfigError(
            f"unknown exchange {exchange!r}: use 'sim' or a ccxt exchange id "
            "such as 'binance' (see ccxt.exchanges)"
        )


async def check_market_buy(client: Any) -> None:
    """Raise ccxt's NotSupported when a market BUY sent through ``client`` would not be sized in
    the base coin. Bybit classic (non-unified) accounts read a spot market Buy's ``qty`` in the
    QUOTE coin (Bybit v5 create-order: ``marketUnit`` is for unified accounts only; default for a
    market buy: quoteCoin), and ccxt (bybit.py ``create_order_request``, classic branch, option
    ``createMarketBuyOrderRequiresPrice`` False by default) sends the base amount as that ``qty``:
    0.005 BTC would be 0.005 USDT, 1521 DOGE would be 1521 USDT (adversary s25 F2)."""
    if "bybit" not in family(client) or not hasattr(client, "is_unified_enabled"):
        return
    margin, unified = await client.is_unified_enabled()
    if margin is True or unified is True:
        return
    import ccxt  # noqa: PLC0415

    raise ccxt.NotSupported(
        f"{client.id}: this is a classic (non-unified) account, where a spot market buy is "
        "sized in the quote coin; oxbot sizes orders in the coin bought. Upgrade the account "
        "to Bybit's Unified Trading Account to trade it LIVE"
    )
