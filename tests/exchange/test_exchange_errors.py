"""Every ccxt error class maps to an oxbot error; the classification is the documented one."""

from __future__ import annotations

import inspect

import ccxt
import pytest
from ccxt.base import errors as ccxt_errors

from oxbot.engine import errors as ox
from oxbot.engine.exchange.errors import CCXT_ERROR_MAP, DuplicateOrderId, translate

ALL_CCXT_ERRORS = [
    c
    for _, c in inspect.getmembers(ccxt_errors, inspect.isclass)
    if issubclass(c, Exception) and c.__module__ == ccxt_errors.__name__
]


def test_every_ccxt_error_class_is_mapped() -> None:
    assert len(ALL_CCXT_ERRORS) > 30  # the introspection found the hierarchy
    unmapped = sorted(c.__name__ for c in ALL_CCXT_ERRORS if c.__name__ not in CCXT_ERROR_MAP)
    assert not unmapped, f"ccxt error classes without a mapping: {unmapped}"


@pytest.mark.parametrize("cls", ALL_CCXT_ERRORS, ids=lambda c: c.__name__)
def test_translate_gives_the_mapped_class(cls: type[Exception]) -> None:
    err = translate(cls("boom"), "fetch ticker BTC/USDT on binance")
    assert type(err) is CCXT_ERROR_MAP[cls.__name__]
    assert str(err).startswith("fetch ticker BTC/USDT on binance failed")


TEMPORARY = [
    "NetworkError",
    "RequestTimeout",
    "ExchangeNotAvailable",
    "OnMaintenance",
    "DDoSProtection",
    "RateLimitExceeded",
    "InvalidNonce",
]
PERMANENT = {
    "AuthenticationError": ox.AuthError,
    "PermissionDenied": ox.AuthError,
    "AccountSuspended": ox.AuthError,
    "InsufficientFunds": ox.InsufficientFunds,
    "InvalidOrder": ox.InvalidOrder,
    "OrderNotFound": ox.OrderNotFound,
    "BadSymbol": ox.BadSymbol,
    "NotSupported": ox.NotSupported,
}


@pytest.mark.parametrize("name", TEMPORARY)
def test_network_family_is_temporary(name: str) -> None:
    assert isinstance(translate(getattr(ccxt, name)("x"), "call"), ox.TemporaryError)


def test_rate_limits_are_rate_limited_even_outside_ddos_family() -> None:
    assert not issubclass(ccxt.RateLimitExceeded, ccxt.DDoSProtection)
    for cls in (ccxt.RateLimitExceeded, ccxt.DDoSProtection):
        err = translate(cls("429 Too Many Requests"), "call", retry_after=7)
        assert isinstance(err, ox.RateLimited) and err.retry_after == 7


@pytest.mark.parametrize("name,target", PERMANENT.items())
def test_permanent_errors(name: str, target: type[Exception]) -> None:
    err = translate(getattr(ccxt, name)("x"), "call")
    assert isinstance(err, target) and not isinstance(err, ox.TemporaryError)


def test_duplicate_client_order_id_is_recognised() -> None:
    err = translate(
        ccxt.InvalidOrder('binance {"code":-2010,"msg":"Duplicate order sent."}'), "create order"
    )
    assert isinstance(err, DuplicateOrderId)


def test_messages_drop_query_strings_and_non_ccxt_errors_classified() -> None:
    e = ccxt.RequestTimeout("binance GET http://h/api/v3/account?timestamp=1&signature=abc")
    assert "signature" not in str(translate(e, "fetch balance"))
    assert isinstance(translate(TimeoutError(), "x"), ox.TemporaryError)
    assert type(translate(ValueError("odd"), "x")) is ox.ExchangeError
