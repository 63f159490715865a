"""A fake Binance spot exchange: a real aiohttp server on 127.0.0.1 speaking the subset of the
REST API that ``ccxt.async_support.binance`` uses (markets, klines, ticker, depth, account, order
create/fetch/cancel, openOrders, allOrders, myTrades), checking HMAC-SHA256 signatures.

Faults are scripted per request: ``server.script(fault, path=..., method=...)`` queues one, and
``server.fault_fn`` (``(method, path) -> fault | None``) decides for every request. Faults:
``429`` (with Retry-After), ``418``, ``500``, ``503``, ``stall`` (sleep past the client timeout, no
effect), ``stall_after`` (apply, then sleep), ``drop`` (close the connection, no effect),
``drop_after`` (apply the request, then close the connection), ``malformed`` (bad JSON).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

API_KEY = "fake-api-key-0123456789"
SECRET = "fake-secret-abcdefghijklmnop"

PRIVATE_PATHS = {"/api/v3/account", "/api/v3/order", "/api/v3/openOrders", "/api/v3/allOrders",
                 "/api/v3/myTrades"}


def generated_klines(start_ms: int, count: int, tf_ms: int = 60_000) -> list[list[Any]]:
    """Deterministic candles around 100 (a sine), Binance's kline row shape."""
    rows = []
    for i in range(count):
        base = 100 + 5 * math.sin(i / 15)
        o, c = base, base + math.sin(i / 3)
        rows.append([start_ms + i * tf_ms, f"{o:.2f}", f"{max(o, c) + 0.5:.2f}",
                     f"{min(o, c) - 0.5:.2f}", f"{c:.2f}", f"{10 + i % 7}.0"])
    return rows


@dataclass
class FakeOrder:
    order_id: int
    client_order_id: str
    symbol: str
    side: str
    type: str
    qty: Decimal
    price: Decimal
    status: str = "NEW"
    executed: Decimal = Decimal(0)
    time: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol, "orderId": self.order_id, "orderListId": -1,
            "clientOrderId": self.client_order_id, "price": str(self.price),
            "origQty": str(self.qty), "executedQty": str(self.executed),
            "cummulativeQuoteQty": str(self.executed * self.price), "status": self.status,
            "timeInForce": "GTC", "type": self.type, "side": self.side, "time": self.time,
            "updateTime": self.time, "transactTime": self.time, "isWorking": True,
        }


@dataclass
class FakeBinance:
    """State of the fake exchange. ``requests`` records (method, path, signed) of every call."""

    klines: list[list[Any]] = field(default_factory=list)
    now_ms: int = 1_700_000_000_000
    price: Decimal = Decimal("100")
    balances: dict[str, Decimal] = field(
        default_factory=lambda: {"USDT": Decimal("1000000"), "BTC": Decimal("0")})
    orders: dict[int, FakeOrder] = field(default_factory=dict)
    by_coid: dict[str, FakeOrder] = field(default_factory=dict)
    trades: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str, bool]] = field(default_factory=list)
    fault_fn: Callable[[str, str], str | None] | None = None
    stall_s: float = 1.0
    retry_after_s: int = 3
    _queued: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    _next_id: int = 1000
    _runner: web.AppRunner | None = None
    port: int = 0

    # ------------------------------------------------------------------ control
    def script(self, fault: str, *, path: str | None = None, method: str | None = None,
               times: int = 1) -> None:
        """Queue ``fault`` for the next ``times`` requests matching path/method."""
        self._queued.extend([(fault, path, method)] * times)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def signed_requests(self) -> list[tuple[str, str, bool]]:
        return [r for r in self.requests if r[2] or r[1] in PRIVATE_PATHS]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------------ plumbing
    def _take_fault(self, method: str, path: str) -> str | None:
        for i, (fault, p, m) in enumerate(self._queued):
            if (p is None or p == path) and (m is None or m == method):
                del self._queued[i]
                return fault
        return self.fault_fn(method, path) if self.fault_fn else None

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path, method = request.path, request.method
        body = await request.text()
        params = dict(parse_qsl(request.query_string, keep_blank_values=True))
        params.update(dict(parse_qsl(body, keep_blank_values=True)))
        signed = "signature" in params
        self.requests.append((method, path, signed))
        fault = self._take_fault(method, path)
        if fault in ("429", "418"):
            return web.json_response(
                {"code": -1003, "msg": "Too many requests."}, status=int(fault),
                headers={"Retry-After": str(self.retry_after_s)})
        if fault in ("500", "503"):
            return web.Response(status=int(fault), text="Service Unavailable")
        if fault == "malformed":
            return web.Response(status=200, text='{"symbol": "BTCUSDT", "price": ',
                                content_type="application/json")
        if fault == "stall":
            await asyncio.sleep(self.stall_s)
            return web.json_response({"code": -1007, "msg": "Timeout waiting for response."},
                                     status=408)
        if fault == "drop":
            request.transport.close()  # type: ignore[union-attr]
            return web.Response(status=500)
        if path in PRIVATE_PATHS:
            err = self._check_signature(request, request.query_string, body, params)
            if err is not None:
                return err
        status, payload = self._handle(method, path, params)
        if fault == "drop_after":
            request.transport.close()  # type: ignore[union-attr]
            return web.Response(status=500)
        if fault == "stall_after":
            await asyncio.sleep(self.stall_s)
        return web.json_response(payload, status=status)

    def _check_signature(self, request: web.Request, query: str, body: str,
                         params: dict[str, str]) -> web.Response | None:
        if request.headers.get("X-MBX-APIKEY") != API_KEY:
            return web.json_response(
                {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."},
                status=401)
        payload = body if request.method in ("POST", "PUT") else query
        unsigned, _, sig = payload.rpartition("&signature=")
        want = hmac.new(SECRET.encode(), unsigned.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, sig) or "timestamp" not in params:
            return web.json_response(
                {"code": -1022, "msg": "Signature for this request is not valid."}, status=400)
        return None

    # ------------------------------------------------------------------ endpoints
    def _handle(self, method: str, path: str, p: dict[str, str]) -> tuple[int, Any]:
        route = (method, path.removeprefix("/api/v3/"))
        if route == ("GET", "exchangeInfo"):
            return 200, _exchange_info()
        if route == ("GET", "klines"):
            return 200, self._klines(p)
        if route == ("GET", "ticker/24hr"):
            if p.get("symbol") != "BTCUSDT":
                return 400, {"code": -1121, "msg": "Invalid symbol."}
            return 200, {"symbol": "BTCUSDT", "lastPrice": str(self.price),
                         "bidPrice": str(self.price), "askPrice": str(self.price),
                         "openTime": self.now_ms - 86_400_000, "closeTime": self.now_ms,
                         "volume": "1000", "quoteVolume": "100000"}
        if route == ("GET", "depth"):
            return 200, {"lastUpdateId": 1, "bids": [[str(self.price - 1), "1.0"]],
                         "asks": [[str(self.price + 1), "1.0"]]}
        if route == ("GET", "account"):
            return 200, {"canTrade": True, "accountType": "SPOT", "updateTime": self.now_ms,
                         "balances": [{"asset": a, "free": str(v), "locked": "0"}
                                      for a, v in self.balances.items()]}
        if route == ("POST", "order"):
            return self._create(p)
        if route == ("GET", "order"):
            order = self._find(p)
            if order is None:
                return 400, {"code": -2013, "msg": "Order does not exist."}
            return 200, order.as_json()
        if route == ("DELETE", "order"):
            order = self._find(p)
            if order is None or order.status != "NEW":
                return 400, {"code": -2011, "msg": "Unknown order sent."}
            order.status = "CANCELED"
            return 200, order.as_json()
        if route == ("GET", "openOrders"):
            return 200, [o.as_json() for o in self.orders.values() if o.status == "NEW"
                         and o.symbol == p.get("symbol", o.symbol)]
        if route == ("GET", "allOrders"):
            return 200, [o.as_json() for o in self.orders.values()
                         if o.symbol == p.get("symbol")]
        if route == ("GET", "myTrades"):
            oid = p.get("orderId")
            return 200, [t for t in self.trades
                         if t["symbol"] == p.get("symbol") and (oid is None or
                                                               str(t["orderId"]) == oid)]
        return 404, {"code": -1000, "msg": f"fake exchange: no route {method} {path}"}

    def _klines(self, p: dict[str, str]) -> list[list[Any]]:
        start = int(p.get("startTime", 0))
        end = int(p.get("endTime", 2**62))
        limit = int(p.get("limit", 500))
        rows = [k for k in self.klines if start <= k[0] <= end]
        # Binance: from startTime when given, else the most recent ``limit`` rows.
        return rows[:limit] if "startTime" in p else rows[-limit:]

    def _find(self, p: dict[str, str]) -> FakeOrder | None:
        if "origClientOrderId" in p:
            return self.by_coid.get(p["origClientOrderId"])
        return self.orders.get(int(p.get("orderId", -1)))

    def _create(self, p: dict[str, str]) -> tuple[int, Any]:
        coid = p.get("newClientOrderId", "")
        if coid in self.by_coid:
            return 400, {"code": -2010, "msg": "Duplicate order sent."}
        qty = Decimal(p["quantity"])
        side, otype = p["side"], p["type"]
        price = Decimal(p.get("price", self.price)) if otype == "LIMIT" else self.price
        base, quote = "BTC", "USDT"
        if side == "BUY" and self.balances[quote] < qty * price:
            return 400, {"code": -2010, "msg": "Account has insufficient balance for requested "
                         "action."}
        if side == "SELL" and self.balances[base] < qty:
            return 400, {"code": -2010, "msg": "Account has insufficient balance for requested "
                         "action."}
        self._next_id += 1
        order = FakeOrder(self._next_id, coid, p["symbol"], side, otype, qty, price,
                          time=self.now_ms)
        self.orders[order.order_id] = order
        self.by_coid[coid] = order
        fills = []
        if otype == "MARKET":
            fills.append(self.fill(order))
        out = order.as_json()
        out["fills"] = fills
        return 200, out

    def fill(self, order: FakeOrder) -> dict[str, Any]:
        """Fill ``order`` completely at its price (a market order, or a limit order crossed)."""
        sign = 1 if order.side == "BUY" else -1
        self.balances["BTC"] += sign * order.qty
        self.balances["USDT"] -= sign * order.qty * order.price
        order.executed, order.status = order.qty, "FILLED"
        trade = {"symbol": order.symbol, "id": len(self.trades) + 1, "orderId": order.order_id,
                 "orderListId": -1, "price": str(order.price), "qty": str(order.qty),
                 "quoteQty": str(order.qty * order.price),
                 "commission": str(order.qty * order.price / 1000), "commissionAsset": "USDT",
                 "time": self.now_ms, "isBuyer": order.side == "BUY", "isMaker": False,
                 "isBestMatch": True}
        self.trades.append(trade)
        return {"price": str(order.price), "qty": str(order.qty),
                "commission": trade["commission"], "commissionAsset": "USDT",
                "tradeId": trade["id"]}


def _exchange_info() -> dict[str, Any]:
    return {
        "timezone": "UTC", "serverTime": 1_700_000_000_000, "rateLimits": [],
        "symbols": [{
            "symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC",
            "baseAssetPrecision": 8, "quoteAsset": "USDT", "quotePrecision": 8,
            "quoteAssetPrecision": 8, "orderTypes": ["LIMIT", "MARKET"],
            "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
            "permissions": ["SPOT"], "permissionSets": [["SPOT"]],
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000.00",
                 "tickSize": "0.01"},
                {"filterType": "LOT_SIZE", "minQty": "0.00001", "maxQty": "9000.0",
                 "stepSize": "0.00001"},
                {"filterType": "NOTIONAL", "minNotional": "5.0", "applyMinToMarket": True,
                 "maxNotional": "9000000.0", "applyMaxToMarket": False,
                 "avgPriceMins": 5},
            ],
        }],
    }
