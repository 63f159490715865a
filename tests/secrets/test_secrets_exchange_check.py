"""`check_exchange_key`: a real ccxt binance client against a local fake exchange."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from oxbot.cli.keys import check_exchange_key

KEY, SECRET = "FakeBinanceKey0123456789abcdef", "FakeBinanceSecret0123456789abcdef"


class FakeBinance(ThreadingHTTPServer):
    daemon_threads = True  # a stalled handler must not hold up shutdown

    def __init__(self, mode: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mode = mode
        self.seen: list[tuple[str, str | None]] = []


class _Handler(BaseHTTPRequestHandler):
    server: FakeBinance

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        self.server.seen.append((path, self.headers.get("X-MBX-APIKEY")))
        status: int = 200
        body: Any = []
        if self.server.mode == "stall":
            time.sleep(3)
        if path.endswith("/exchangeInfo"):
            body = {
                "timezone": "UTC",
                "serverTime": int(time.time() * 1000),
                "rateLimits": [],
                "symbols": [],
            }
        elif self.server.mode == "reject" and "public" not in path:
            # the exchange echoes the key in its error text, as some do
            status, body = (
                401,
                {"code": -2015, "msg": f"Invalid API-key {KEY}, IP, or permissions for action."},
            )
        elif path.endswith("/account"):
            body = {
                "balances": [{"asset": "USDT", "free": "10.0", "locked": "0"}],
                "updateTime": 0,
                "accountType": "SPOT",
            }
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake_binance() -> Iterator[Callable[[str], tuple[FakeBinance, Callable[[Any], None]]]]:
    servers: list[FakeBinance] = []

    def start(mode: str) -> tuple[FakeBinance, Callable[[Any], None]]:
        server = FakeBinance(mode)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        base = f"http://127.0.0.1:{server.server_address[1]}"

        def configure(exchange: Any) -> None:
            exchange.urls["api"] = {k: f"{base}/{k}" for k in exchange.urls["api"]}
            exchange.options["fetchMarkets"] = {"types": ["spot"]}
            exchange.has["fetchCurrencies"] = False

        return server, configure

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_a_working_key_is_reported_usable(fake_binance: Any) -> None:
    server, configure = fake_binance("ok")
    verdict = check_exchange_key("binance", {"api_key": KEY, "secret": SECRET}, 2.0, configure)
    assert verdict == "usable: the exchange accepted the key (balance read)"
    assert ("/private/account", KEY) in server.seen  # the key really was sent


def test_a_refused_key_is_reported_without_the_key(fake_binance: Any) -> None:
    _, configure = fake_binance("reject")
    verdict = check_exchange_key("binance", {"api_key": KEY, "secret": SECRET}, 2.0, configure)
    assert verdict.startswith("rejected: the exchange refused the key; check")
    assert KEY not in verdict and SECRET not in verdict


def test_a_silent_exchange_is_not_checked_quickly(fake_binance: Any) -> None:
    _, configure = fake_binance("stall")
    started = time.monotonic()
    verdict = check_exchange_key("binance", {"api_key": KEY, "secret": SECRET}, 0.5, configure)
    assert verdict.startswith("not checked:")
    assert time.monotonic() - started < 2.0


def test_an_exchange_ccxt_does_not_know() -> None:
    assert check_exchange_key("nosuchexchange", {}) == (
        "not checked: ccxt has no exchange 'nosuchexchange'"
    )
