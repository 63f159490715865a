"""ccxt errors translated once, at the boundary, into oxbot's hierarchy (engine/errors.py).

``CCXT_ERROR_MAP`` names every ccxt error class explicitly (a table test fails when ccxt adds
one); ``translate`` walks an exception's MRO to the nearest mapped class so a new subclass still
lands somewhere sensible at runtime.
"""

from __future__ import annotations

import asyncio
import re

from oxbot.engine import errors as ox

from .quirks import DUPLICATE_ORDER_MARKERS

TEMPORARY = ox.TemporaryError
RATE = ox.RateLimited


class DuplicateOrderId(ox.InvalidOrder):
    """The exchange already has an order with this clientOrderId (the first send got through)."""


class KeyInUse(ox.ExchangeError):
    """Another engine already trades with this exchange key (an OS lock is held)."""


# Every class in ccxt.base.errors, by name. Temporary ones are worth retrying; the rest are not.
CCXT_ERROR_MAP: dict[str, type[ox.ExchangeError]] = {
    "BaseError": ox.ExchangeError,
    "ExchangeError": ox.ExchangeError,
    "AuthenticationError": ox.AuthError,
    "PermissionDenied": ox.AuthError,
    "AccountNotEnabled": ox.AuthError,
    "AccountSuspended": ox.AuthError,
    "ArgumentsRequired": ox.ExchangeError,
    "BadRequest": ox.ExchangeError,
    "BadSymbol": ox.BadSymbol,
    "OperationRejected": ox.ExchangeError,
    "NoChange": ox.ExchangeError,
    "MarginModeAlreadySet": ox.ExchangeError,
    "MarketClosed": ox.ExchangeError,
    "ManualInteractionNeeded": ox.ExchangeError,
    "RestrictedLocation": ox.AuthError,
    "InsufficientFunds": ox.InsufficientFunds,
    "InvalidAddress": ox.ExchangeError,
    "AddressPending": ox.ExchangeError,
    "InvalidOrder": ox.InvalidOrder,
    "OrderNotFound": ox.OrderNotFound,
    "OrderNotCached": ox.OrderNotFound,
    "OrderImmediatelyFillable": ox.InvalidOrder,
    "OrderNotFillable": ox.InvalidOrder,
    "DuplicateOrderId": DuplicateOrderId,
    "ContractUnavailable": ox.InvalidOrder,
    "NotSupported": ox.NotSupported,
    "InvalidProxySettings": ox.ExchangeError,
    "ExchangeClosedByUser": ox.ExchangeError,
    "OperationFailed": TEMPORARY,
    "NetworkError": TEMPORARY,
    "DDoSProtection": RATE,
    "RateLimitExceeded": RATE,  # not a DDoSProtection subclass in current ccxt
    "ExchangeNotAvailable": TEMPORARY,
    "OnMaintenance": TEMPORARY,
    "InvalidNonce": TEMPORARY,  # clock skew / nonce race: a fresh nonce fixes it
    "ChecksumError": TEMPORARY,
    "RequestTimeout": TEMPORARY,
    "BadResponse": TEMPORARY,  # malformed reply: the next one is usually fine
    "NullResponse": TEMPORARY,
    "CancelPending": TEMPORARY,
    "UnsubscribeError": ox.ExchangeError,
}

# What an exchange says when a clientOrderId exists already: quirks.py, with its sources.
_ALL_DUPLICATE_MARKERS = tuple(
    {m.lower() for ms in DUPLICATE_ORDER_MARKERS.values() for m in ms if not m.isdigit()}
)


def is_duplicate_text(text: str) -> bool:
    """Whether an exchange's error text says the client order id exists already."""
    low = text.lower()
    return any(m in low for m in _ALL_DUPLICATE_MARKERS)


# ccxt errors that prove the exchange refused an order request, so nothing was placed: it
# answered about the request itself (funds, amount, symbol, key, a stale timestamp checked
# before processing). A generic ExchangeError proves nothing (OKX answers an empty ``{}`` that
# way, and a request can have been applied before a proxy's error page), nor does a duplicate
# id (the first send got through).
REFUSALS = frozenset(
    {
        "InsufficientFunds",
        "InvalidOrder",
        "OrderImmediatelyFillable",
        "OrderNotFillable",
        "ContractUnavailable",
        "BadSymbol",
        "BadRequest",
        "ArgumentsRequired",
        "NotSupported",
        "AuthenticationError",
        "PermissionDenied",
        "AccountNotEnabled",
        "AccountSuspended",
        "RestrictedLocation",
        "MarketClosed",
        "OperationRejected",
        "InvalidNonce",
    }
)


def refused(exc: BaseException) -> bool:
    """Whether ``exc`` (raised by ccxt's create_order) proves the order was not placed."""
    if is_duplicate_text(str(exc)):
        return False
    for cls in type(exc).__mro__:
        if cls.__module__.startswith("ccxt"):
            if cls.__name__ == "DuplicateOrderId":
                return False
            if cls.__name__ in REFUSALS:
                return True
    return False


# Texts that mean "this key is not accepted" whatever class ccxt gave them: ccxt turns Binance's
# -2015 into DDoSProtection once the key had worked in the session (a key revoked mid-session
# would look temporary and be hammered).
AUTH_MARKERS = (
    '"code":-2015',
    "Invalid API-key, IP, or permissions",
    '"code":"50111"',
    '"code":"50113"',
    '"code":"50105"',
)

_QUERY = re.compile(r"\?\S*")
_RETRY_AFTER = re.compile(r"retry[- ]after[\"':= ]+(\d+(?:\.\d+)?)", re.IGNORECASE)


_TAGS = re.compile(r"<[^>]{0,200}>")
_SPACE = re.compile(r"\s+")


def _clean(text: str) -> str:
    """Drop query strings (timestamps, signatures) and HTML tags (a proxy's error page) from SDK
    messages; one line, kept short."""
    text = _SPACE.sub(" ", _TAGS.sub(" ", _QUERY.sub("?…", text))).strip()
    return text if len(text) <= 300 else text[:297] + "..."


def translate(
    exc: BaseException, attempted: str, retry_after: float | None = None
) -> ox.ExchangeError:
    """The oxbot error for ``exc`` raised while doing ``attempted`` (e.g. "fetch_ticker BTC/USDT
    on binance"). Already-translated errors pass through. Use as ``raise translate(e, ..) from e``.
    """
    if isinstance(exc, ox.ExchangeError):
        return exc
    detail = _clean(str(exc) or type(exc).__name__)
    message = f"{attempted} failed: {detail}"
    target: type[ox.ExchangeError] | None = None
    for cls in type(exc).__mro__:
        if cls.__module__.startswith("ccxt") and cls.__name__ in CCXT_ERROR_MAP:
            target = CCXT_ERROR_MAP[cls.__name__]
            break
    if target is None:
        if isinstance(exc, (TimeoutError, asyncio.TimeoutError, ConnectionError, OSError)):
            target = TEMPORARY
        else:
            target = ox.ExchangeError
    if any(m in str(exc) for m in AUTH_MARKERS):
        target = ox.AuthError
    if (
        target is not DuplicateOrderId
        and issubclass(target, ox.ExchangeError)
        and not issubclass(target, ox.TemporaryError)
        and is_duplicate_text(str(exc))
    ):
        target = DuplicateOrderId
    if target is RATE:
        if retry_after is None:
            found = _RETRY_AFTER.search(str(exc))
            retry_after = float(found.group(1)) if found else None
        return ox.RateLimited(f"{message} (rate limited; backing off)", retry_after)
    if target is ox.AuthError:
        message += " — check the API key, its permissions and IP whitelist (`oxbot keys check`)"
    return target(message)
