"""What every fake exchange shares: a real aiohttp server on 127.0.0.1:0, a request log, scripted
faults, late application, the order book walk, fees, and exact (Decimal) balance moves.

A dialect (fake_binance.py, fake_okx.py) subclasses ``FakeExchange`` and implements four things:
``admit(req)`` (authentication and clock checks, done when a request reaches the exchange),
``apply(req)`` (the effect and the answer), ``rate_limited(kind)`` (its own 429/418 body) and
``is_signed(req)``. Everything below is dialect-free.

Faults. ``fake.script(fault, path=, method=, times=)`` queues a fault for the next matching
requests; ``fake.fault_fn(method, path) -> fault | None`` decides for the others. Kinds:

=============  ====================================================================  =========
fault          what the client sees                                                  applied?
=============  ====================================================================  =========
429, 418       the exchange's own rate-limit / ban body, Retry-After header           no
500 502 503    that status with a proxy's plain-text body                            no
504
stall          nothing for ``stall_s`` (past the client's timeout), then a 504        no
drop           the connection closed without an answer                              no
malformed      200 with truncated JSON                                               no
empty          200 with an empty body                                                no
empty_json     200 with ``{}``                                                       no
html           502 with a proxy's HTML error page                                    no
late           held; the exchange applies it ``late_s`` after it arrived, while the   later
               client has timed out (``stall_s``) and may already be looking it up
late_arrival   held *before* the exchange (a congested gateway): it reaches the      later,
               exchange ``late_s`` later and is checked then (recvWindow, timestamp)  maybe
=============  ====================================================================  =========

``<kind>_after`` (for 500..504, stall, drop, malformed, empty, empty_json, html) applies the
request first, then answers like ``<kind>``: the order exists although the client saw an error.
Binance's docs say exactly this can happen: "HTTP 5XX return codes are used for internal errors;
the issue is on Binance's side. It is important to NOT treat this as a failure operation; the
execution status is UNKNOWN and could have been a success" (Binance spot API docs, General API
Information, HTTP Return Codes; from memory, not installed here).

Surprises, per fake: ``order_lag_s`` (a new order is invisible to lookups for that long: the
exchange answers "does not exist"), ``fills_lag_s`` (its trades are missing from the trade lists
for that long, although the order already reads filled), ``match_lag_s`` (a market order is
accepted "live"/NEW and executed that much later).
"""

from __future__ import annotations

import asyncio
import decimal
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any, ClassVar
from urllib.parse import urlsplit

from aiohttp import web

# ccxt's precision helpers change the Decimal context of the thread they run in (see
# tests/conftest.py); the exchange computes in its own.
EXCHANGE_CONTEXT = decimal.Context(prec=40)

PLAIN = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 "
    "Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
BODY_FAULTS = {
    "500",
    "502",
    "503",
    "504",
    "stall",
    "drop",
    "malformed",
    "empty",
    "empty_json",
    "html",
}
KINDS = BODY_FAULTS | {"429", "418", "late", "late_arrival"}


def split_fault(fault: str) -> tuple[str, bool]:
    """``"drop_after"`` -> ("drop", True); raises on an unknown fault (a typo in a test)."""
    kind, after = (fault[:-6], True) if fault.endswith("_after") else (fault, False)
    if kind not in KINDS or (after and kind not in BODY_FAULTS):
        raise ValueError(f"unknown fault {fault!r}; known: {sorted(KINDS)} and <kind>_after")
    return kind, after


def generated_klines(start_ms: int, count: int, tf_ms: int = 60_000) -> list[list[Any]]:
    """Deterministic candles around 100 (a sine), rows [open_ms, o, h, l, c, volume]."""
    rows = []
    for i in range(count):
        base = 100 + 5 * math.sin(i / 15)
        o, c = base, base + math.sin(i / 3)
        rows.append(
            [
                start_ms + i * tf_ms,
                f"{o:.2f}",
                f"{max(o, c) + 0.5:.2f}",
                f"{min(o, c) - 0.5:.2f}",
                f"{c:.2f}",
                f"{10 + i % 7}.0",
            ]
        )
    return rows


@dataclass
class Req:
    """One request as the exchange received it."""

    method: str
    path: str
    raw_query: str  # exactly as sent (signatures cover it)
    body: str
    headers: Mapping[str, str]
    params: dict[str, Any]  # query and body merged (dialects fill this)
    arrived_ms: int  # wall clock, ms


@dataclass
class Reply:
    status: int
    payload: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Fill:
    """One execution against the book: its price, base quantity, fee and fee asset."""

    price: Decimal
    qty: Decimal
    fee: Decimal
    fee_asset: str


def point_ccxt(client: Any, base_url: str) -> None:
    """Send every REST call of a real ccxt client to ``base_url``, keeping the paths.

    binance: ``urls['api']`` maps each API section to a full URL ('public':
    'https://api.binance.com/api/v3', 'sapi': 'https://api.binance.com/sapi/v1', 'fapiPublic':
    'https://fapi.binance.com/fapi/v1', ...; binance.py describe() ~250): scheme and host of
    each are replaced. okx: ``urls['api'] = {'rest': 'https://{hostname}'}`` and sign() builds
    ``rest + '/api/v5/' + path`` (okx.py ~6482): 'rest' is replaced.
    Call ``set_sandbox_mode(True)`` BEFORE this: it swaps ``urls['api']`` for ``urls['test']``
    (base/exchange.py set_sandbox_mode ~3498) and so undoes any pointing done earlier. Note for
    binance: with a URL that is not https://api.binance.com/..., ccxt's spot-only error table is
    skipped (binance.py get_exceptions_by_url ~12578); the shared table still maps every code
    these fakes send."""
    api = client.urls["api"]
    for key, url in list(api.items()):
        if isinstance(url, str):
            api[key] = base_url + urlsplit(url.replace("{hostname}", "h")).path
    client.timeout_on_exit = 0  # ccxt sleeps 250 ms in close() otherwise


def down(x: Decimal, step: Decimal) -> Decimal:
    return (x / step).to_integral_value(ROUND_DOWN) * step


def multiple_of(x: Decimal, step: Decimal) -> bool:
    return (x / step) == (x / step).to_integral_value()


@dataclass
class FakeExchange:
    """Server, faults, request log and the shared market model (one symbol, a price, a book)."""

    exchange_id: ClassVar[str] = "fake"
    base_asset: ClassVar[str] = "BTC"
    quote_asset: ClassVar[str] = "USDT"

    klines: list[list[Any]] = field(default_factory=list)
    now_ms: int = 1_700_000_000_000  # market time (candles, order times)
    price: Decimal = Decimal("100")
    balances: dict[str, Decimal] = field(
        default_factory=lambda: {"USDT": Decimal("1000000"), "BTC": Decimal("0")}
    )
    # The book both sides are walked on: (distance from ``price``, base quantity or None for
    # unlimited), best level first. Asks are price + distance, bids price - distance.
    depth: list[tuple[Decimal, Decimal | None]] = field(
        default_factory=lambda: [(Decimal(0), None)]
    )
    taker_fee: Decimal = Decimal("0.001")
    requests: list[tuple[str, str, bool]] = field(default_factory=list)
    log: list[dict[str, Any]] = field(default_factory=list)
    fault_fn: Callable[[str, str], str | None] | None = None
    stall_s: float = 1.0
    late_s: float = 0.5
    retry_after_s: int = 3
    clock_offset_ms: int = 0  # the exchange's clock minus ours
    order_lag_s: float = 0.0
    fills_lag_s: float = 0.0
    match_lag_s: float = 0.0
    port: int = 0
    _queued: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    _timers: list[asyncio.TimerHandle] = field(default_factory=list)
    _held: int = 0
    _start_balances: dict[str, Decimal] = field(default_factory=dict)
    errors: list[BaseException] = field(default_factory=list)  # the fake's own failures

    # ------------------------------------------------------------------ dialect hooks
    def is_signed(self, req: Req) -> bool:
        raise NotImplementedError

    def parse_params(self, req: Req) -> dict[str, Any]:
        raise NotImplementedError

    def admit(self, req: Req) -> Reply | None:
        """Checks made when the request reaches the exchange; a Reply refuses it."""
        raise NotImplementedError

    def apply(self, req: Req) -> Reply:
        raise NotImplementedError

    def rate_limited(self, kind: str) -> Reply:
        raise NotImplementedError

    def sync(self) -> None:
        """Called before every admit/apply: subclasses move ``now_ms``/``price`` with a clock."""

    # ------------------------------------------------------------------ control
    def script(
        self, fault: str, *, path: str | None = None, method: str | None = None, times: int = 1
    ) -> None:
        """Queue ``fault`` for the next ``times`` requests matching path/method."""
        split_fault(fault)
        self._supported(fault)
        self._queued.extend([(fault, path, method)] * times)

    def _supported(self, fault: str) -> None:
        """Dialects refuse faults their exchange has no equivalent of (OKX has no 418)."""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def server_ms(self) -> int:
        """The exchange's own clock (recvWindow and timestamp checks use it)."""
        return int(time.time() * 1000) + self.clock_offset_ms

    def pending_late(self) -> int:
        """Requests held by ``late``/``late_arrival`` (or market orders waiting out
        ``match_lag_s``) and not applied yet."""
        return self._held

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until every held request has been applied (or refused)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while self.pending_late():
            if loop.time() > end:
                raise TimeoutError("held requests still pending")
            await asyncio.sleep(0.01)
        await asyncio.sleep(0)

    def credentials(self) -> dict[str, str]:
        raise NotImplementedError

    async def start(self) -> None:
        self._start_balances = dict(self.balances)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        """Shut down; raises if the fake itself failed while serving (a bug in a fake, or a
        ``fault_fn`` answering a fault this exchange has no equivalent of): the client saw a
        500 that no exchange sent, and the test must not count it as a scripted fault."""
        for t in self._timers:
            t.cancel()
        self._held = 0
        if self._runner is not None:
            await self._runner.cleanup()
        if self.errors:
            raise AssertionError(
                f"the fake exchange failed {len(self.errors)} time(s); first: {self.errors[0]!r}"
            ) from self.errors[0]

    # ------------------------------------------------------------------ plumbing
    def _take_fault(self, method: str, path: str) -> str | None:
        for i, (fault, p, m) in enumerate(self._queued):
            if (p is None or p == path) and (m is None or m == method):
                del self._queued[i]
                return fault
        return self.fault_fn(method, path) if self.fault_fn else None

    def _run(self, req: Req, check: bool = True) -> Reply:
        with decimal.localcontext(EXCHANGE_CONTEXT):
            self.sync()
            refused = self.admit(req) if check else None
            return refused if refused is not None else self.apply(req)

    def _later(self, delay: float, fn: Callable[[], Any]) -> None:
        """Run ``fn`` (synchronously, in the exchange's Decimal context) ``delay`` s from now."""
        loop = asyncio.get_running_loop()
        self._timers = [t for t in self._timers if t.when() > loop.time()]
        self._held += 1

        def run() -> None:
            self._held -= 1
            try:
                with decimal.localcontext(EXCHANGE_CONTEXT):
                    fn()
            except Exception as exc:
                self.errors.append(exc)

        self._timers.append(loop.call_later(delay, run))

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._serve(request)
        except Exception as exc:
            self.errors.append(exc)
            raise

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        body = await request.text()
        req = Req(
            request.method,
            request.path,
            request.rel_url.raw_query_string,
            body,
            request.headers,
            {},
            int(time.time() * 1000),
        )
        req.params = self.parse_params(req)
        fault = self._take_fault(req.method, req.path)
        entry = {
            "method": req.method,
            "path": req.path,
            "fault": fault,
            "status": None,
            "params": req.params,
        }
        self.log.append(entry)
        self.requests.append((req.method, req.path, self.is_signed(req)))
        if fault is not None:
            self._supported(fault)
        kind, after = split_fault(fault) if fault else (None, False)
        if kind in ("429", "418"):
            return self._send(entry, self.rate_limited(kind))
        if kind == "late":
            with decimal.localcontext(EXCHANGE_CONTEXT):
                self.sync()
                refused = self.admit(req)  # checked on arrival, applied later
            if refused is None:
                self._later(self.late_s, lambda: self._run(req, check=False))
            return await self._stall(request, entry)
        if kind == "late_arrival":
            self._later(self.late_s, lambda: self._run(req))
            return await self._stall(request, entry)
        # A GET has no effect: a fault on it may as well carry (a truncation of) the real answer.
        reply = self._run(req) if kind is None or after or req.method == "GET" else None
        if kind is None:
            return self._send(entry, reply)  # type: ignore[arg-type]
        if kind == "stall":
            return await self._stall(request, entry)
        if kind == "drop":
            entry["status"] = "dropped"
            request.transport.close()  # type: ignore[union-attr]
            return web.Response(status=500)
        if kind in ("500", "502", "503", "504"):
            return self._send(entry, Reply(int(kind), PLAIN[int(kind)]))
        if kind == "html":
            entry["status"] = 502
            return web.Response(status=502, text=HTML_502, content_type="text/html")
        entry["status"] = 200
        if kind == "malformed":
            text = (
                json.dumps(reply.payload)
                if reply is not None
                else '{"code": "0", "data": [{"ordId": "1", "state": "fi'
            )
            return web.Response(
                status=200, text=text[: max(1, len(text) // 2)], content_type="application/json"
            )
        if kind == "empty":
            return web.Response(status=200, text="", content_type="application/json")
        return web.Response(status=200, text="{}", content_type="application/json")

    async def _stall(self, request: web.Request, entry: dict[str, Any]) -> web.StreamResponse:
        entry["status"] = "stalled"
        await asyncio.sleep(self.stall_s)  # the client has given up by now
        return web.Response(status=504, text=PLAIN[504])

    def _send(self, entry: dict[str, Any], reply: Reply) -> web.Response:
        entry["status"] = reply.status
        if isinstance(reply.payload, str):
            return web.Response(status=reply.status, text=reply.payload, headers=reply.headers)
        return web.json_response(reply.payload, status=reply.status, headers=reply.headers)

    # ------------------------------------------------------------------ market model
    def book(self, side: str) -> list[tuple[Decimal, Decimal | None]]:
        """Levels a ``side`` ('buy'/'sell') order takes from: asks for a buy, bids for a sell."""
        sign = 1 if side == "buy" else -1
        return [(self.price + sign * d, q) for d, q in self.depth]

    def walk(
        self,
        side: str,
        step: Decimal,
        qty: Decimal | None = None,
        quote: Decimal | None = None,
        limit: Decimal | None = None,
        cap: Decimal | None = None,
    ) -> list[tuple[Decimal, Decimal]]:
        """The (price, base qty) executions of a taker order for ``qty`` base or ``quote``
        spent, stopping at ``limit`` price, at ``cap`` base, or when the book runs out.
        Quantities are multiples of ``step``."""
        out: list[tuple[Decimal, Decimal]] = []
        left_qty, left_quote = qty, quote
        taken = Decimal(0)
        for px, avail in self.book(side):
            if limit is not None and (px > limit if side == "buy" else px < limit):
                break
            want = left_qty if left_qty is not None else down(left_quote / px, step)  # type: ignore[operator]
            if avail is not None:
                want = min(want, avail)
            if cap is not None:
                want = min(want, cap - taken)
            if want <= 0:
                break
            out.append((px, want))
            taken += want
            if left_qty is not None:
                left_qty -= want
            else:
                left_quote -= want * px  # type: ignore[operator]
        return out

    def fee_of(
        self, side: str, qty: Decimal, px: Decimal, mode: str, rate: Decimal | None = None
    ) -> tuple[Decimal, str]:
        """The commission of one execution and the asset it is taken in.

        ``received`` (the default on both exchanges): in the asset the trade credits, base for
        a buy, quote for a sell. ``quote``: always in quote (an option for tests that need the
        old behaviour; no real spot account of either exchange does this for buys).
        Rounded to 8 decimals half-up (the exchanges' rounding is not documented)."""
        rate = self.taker_fee if rate is None else rate
        if mode == "received" and side == "buy":
            return (qty * rate).quantize(Decimal("1e-8"), ROUND_HALF_UP), self.base_asset
        return (qty * px * rate).quantize(Decimal("1e-8"), ROUND_HALF_UP), self.quote_asset

    def move_balances(
        self, side: str, qty: Decimal, px: Decimal, fee: Decimal, fee_asset: str
    ) -> None:
        """Exactly what one execution does to the account."""
        b = self.balances
        for asset in (self.base_asset, self.quote_asset, fee_asset):
            b.setdefault(asset, Decimal(0))
        if side == "buy":
            b[self.base_asset] += qty
            b[self.quote_asset] -= qty * px
        else:
            b[self.base_asset] -= qty
            b[self.quote_asset] += qty * px
        b[fee_asset] -= fee

    def visible(self, since_mono: float, lag_s: float) -> bool:
        return lag_s <= 0 or time.monotonic() - since_mono >= lag_s

    # ------------------------------------------------------------------ uniform views
    def audit(self) -> dict[str, Any]:
        """The fake's own books, checked: balances against the start balances plus every trade,
        and each order's filled quantity against its trades. Empty when consistent (tests that
        change ``balances`` by hand after start() must expect the change here)."""
        want = dict(self._start_balances)
        for t in self.trades_view():
            sign = 1 if t["side"] == "buy" else -1
            for asset, delta in (
                (self.base_asset, sign * t["amount"]),
                (self.quote_asset, -sign * t["amount"] * t["price"]),
                (t["fee_currency"], -t["fee"]),
            ):
                want[asset] = want.get(asset, Decimal(0)) + delta
        out: dict[str, Any] = {
            a: (self.balances.get(a, Decimal(0)), v)
            for a, v in want.items()
            if self.balances.get(a, Decimal(0)) != v
        }
        for o in self.orders_view():
            traded = sum((t["amount"] for t in o["trades"]), Decimal(0))
            if traded != o["filled"]:
                out[o["exchange_order_id"]] = (o["filled"], traded)
        return out

    def orders_view(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def trades_view(self) -> list[dict[str, Any]]:
        raise NotImplementedError
