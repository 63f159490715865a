"""A local stand-in for Binance's spot market streams (wss://stream.binance.com:9443), on
127.0.0.1, for the real ccxt.pro client.

What it speaks, and where that was read:

- Binance spot "WebSocket Streams" (https://developers.binance.com/docs/binance-spot-api-docs/
  web-socket-streams): raw streams are reached at ``/ws/<streamName>``; streams are added with
  ``{"method": "SUBSCRIBE", "params": ["btcusdt@kline_1m"], "id": 1}``, answered
  ``{"result": null, "id": 1}``, and removed the same way with ``"UNSUBSCRIBE"``; stream
  names are lowercase; the kline payload is
  ``{"e": "kline", "E": event ms, "s": "BTCUSDT", "k": {"t": open ms, "T": close ms, "s", "i":
  interval, "f", "L", "o", "c", "h", "l", "v" (strings), "n", "x": is this kline closed, "q",
  "V", "Q", "B"}}``; updates come every 2 s for intervals above 1s.
- ccxt.pro's binance (ccxt/pro/binance.py): ``watch_ohlcv_for_symbols`` connects to
  ``urls['api']['ws']['spot'] + '/' + self.stream('spot', 'multipleOHLCV')`` (so ``/ws/0``: the
  stream name is a number and the streams come by SUBSCRIBE), sends ``params`` as
  ``<lowercaseId>@kline_<interval>`` with an incrementing integer ``id`` (``request_id``);
  ``handle_message`` routes ``e == "kline"`` to ``handle_ohlcv``, which reads ``k.t/o/h/l/c/v``
  and resolves ``ohlcv::<symbol>::<timeframe>``; a reply with an ``id`` goes to
  ``handle_subscription_status``.

- An error reply to a request: ``{"error": {"code": 2, "msg": "Invalid request: ..."}, "id": N}``
  (Binance spot "WebSocket Streams", "Error Messages"; the shape ccxt/pro/binance.py
  ``handle_ws_error`` reads, which rejects the subscription's future with the error).

Faults: ``refuse`` (the next N handshakes get HTTP 503), ``reject`` (the next N SUBSCRIBEs get
the error reply above instead of ``{"result": null}``), ``mute_unsubscribe`` (UNSUBSCRIBEs get
no answer), ``drop()`` (the server closes every
socket), ``silent`` (subscriptions are acknowledged but no frame follows: a stall),
``send_raw`` (any text: garbage).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import WSMsgType, web


class FakeBinanceWs:
    def __init__(self) -> None:
        self.port = 0
        self.handshakes = 0  # connection attempts, refused ones included
        self.connections = 0  # accepted websocket connections
        self.refuse = 0  # how many upcoming handshakes to refuse (HTTP 503)
        self.reject = 0  # how many upcoming SUBSCRIBEs to answer with an error
        self.mute_unsubscribe = False  # UNSUBSCRIBEs are not answered
        self.requests: list[dict[str, Any]] = []  # every JSON request a client sent
        self.errors: list[str] = []  # requests Binance would refuse: a client bug
        self._streams: dict[web.WebSocketResponse, set[str]] = {}
        self._runner: web.AppRunner | None = None
        self.subscribed = asyncio.Event()

    @property
    def url(self) -> str:
        """What ``urls['api']['ws']['spot']`` becomes (Binance's is .../ws)."""
        return f"ws://127.0.0.1:{self.port}/ws"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/ws/{stream}", self._serve)
        self._runner = web.AppRunner(app, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        await self.drop()
        if self._runner is not None:
            await self._runner.cleanup()

    def open_sockets(self) -> int:
        return sum(1 for ws in self._streams if not ws.closed)

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        self.handshakes += 1
        if self.refuse > 0:
            self.refuse -= 1
            return web.Response(status=503, text="Service Unavailable")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connections += 1
        self._streams[ws] = set()
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            try:
                req = json.loads(msg.data)
            except ValueError:
                self.errors.append(f"not JSON: {msg.data!r}")
                continue
            self.requests.append(req)
            ok = (
                req.get("method") in ("SUBSCRIBE", "UNSUBSCRIBE")
                and isinstance(req.get("id"), int)
                and isinstance(req.get("params"), list)
                and all(isinstance(p, str) and p == p.lower() for p in req["params"])
            )
            if not ok:
                self.errors.append(f"not a (UN)SUBSCRIBE Binance accepts: {req!r}")
                continue
            if req["method"] == "UNSUBSCRIBE" and self.mute_unsubscribe:
                continue
            if req["method"] == "SUBSCRIBE" and self.reject > 0:
                self.reject -= 1
                error = {"code": 2, "msg": "Invalid request: invalid stream"}
                await ws.send_str(json.dumps({"error": error, "id": req["id"]}))
                continue
            await ws.send_str(json.dumps({"result": None, "id": req["id"]}))
            if req["method"] == "SUBSCRIBE":
                self._streams[ws].update(req["params"])
                self.subscribed.set()
            else:
                self._streams[ws].difference_update(req["params"])
        self._streams.pop(ws, None)
        return ws

    def subscribers(self, stream: str) -> list[web.WebSocketResponse]:
        return [ws for ws, names in self._streams.items() if stream in names and not ws.closed]

    async def kline(
        self,
        symbol: str,
        interval: str,
        t: int,
        o: str,
        h: str,
        low: str,
        c: str,
        v: str = "1.00000000",
        *,
        closed: bool = False,
        tf_ms: int = 60_000,
    ) -> int:
        """Push one kline update to the sockets subscribed to it; how many got it."""
        payload = {
            "e": "kline",
            "E": t + tf_ms // 2,
            "s": symbol,
            "k": {
                "t": t,
                "T": t + tf_ms - 1,
                "s": symbol,
                "i": interval,
                "f": 100,
                "L": 200,
                "o": o,
                "c": c,
                "h": h,
                "l": low,
                "v": v,
                "n": 100,
                "x": closed,
                "q": "1.0000",
                "V": "0.5",
                "Q": "0.500",
                "B": "123456",
            },
        }
        return await self.send_raw(json.dumps(payload), f"{symbol.lower()}@kline_{interval}")

    async def send_raw(self, text: str, stream: str | None = None) -> int:
        """Send ``text`` as it is (to one stream's subscribers, or to every socket)."""
        targets = (
            self.subscribers(stream) if stream else [ws for ws in self._streams if not ws.closed]
        )
        for ws in targets:
            await ws.send_str(text)
        return len(targets)

    async def drop(self) -> None:
        """The server closes every connection (a Binance restart, the 24 h limit)."""
        for ws in list(self._streams):
            await ws.close(code=1001, message=b"going away")
        self.subscribed.clear()
