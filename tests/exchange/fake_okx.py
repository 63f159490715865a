"""A strict fake OKX v5 spot exchange that the real ``ccxt.async_support.okx`` (4.5.90) trades
against once ``client.urls['api'] = {'rest': fake.base_url}`` (okx.py describe(): every REST call
is ``urls['api']['rest'] + '/api/v5/' + path``, see sign() ~6482; nothing else to point).

Faults, the request log and late application come from fake_base.py. Behaviour modelled, and
where it was read (ccxt = .venv/.../ccxt/async_support/okx.py; "docs" = OKX v5 API docs, not
installed here, from memory):

- Envelope ``{"code": "0", "msg": "", "data": [...]}``; a per-order failure is HTTP 200 with
  ``code "1"`` and ``data[0].sCode/sMsg`` (ccxt handle_errors ~8988 quotes it and reads sCode
  first). A missing order on GET trade/order is the top-level ``code "51603"`` ("Order does not
  exist", ccxt exceptions ~980: OrderNotFound).
- Auth (docs, REST authentication): OK-ACCESS-KEY / -SIGN (base64 HMAC-SHA256 of timestamp +
  method + requestPath(+?query) + body) / -TIMESTAMP (ISO, expires 30 s from server time) /
  -PASSPHRASE; HTTP 401 with 50103/50104/50106/50107 (header missing), 50111 (bad key),
  50105 (wrong passphrase), 50113 (bad sign), 50102 (expired), 50101 (key of the other
  environment: demo keys need header ``x-simulated-trading: 1``, which ccxt's
  set_sandbox_mode adds ~7947). ccxt maps all of them to AuthenticationError, 50102 to
  InvalidNonce (exceptions ~800-819).
- Place order (POST trade/order, and trade/batch-orders which ccxt uses by default: options
  createOrder 'privatePostTradeBatchOrders', create_order ~3390) answers ids only:
  ordId, clOrdId, tag, ts, sCode, sMsg, NO state (ccxt quotes it in parse_order ~3990; ccxt's
  order then has status None).
- clOrdId: ``^[A-Za-z0-9]{1,32}$`` (docs: "A combination of case-sensitive alphanumerics, all
  numbers, or all letters of up to 32 characters"; 51000 otherwise). sCode 51016 "Duplicated
  clOrdId" (ccxt exceptions ~836 maps it to InvalidOrder, NOT DuplicateOrderId) while an order
  with that clOrdId is live or partially filled; a finished order does not block reuse. Read
  from the docs of GET trade/order: "If the clOrdId is associated with multiple orders, only the
  latest one will be returned" (so reuse exists); ``dup_scope="all"`` refuses any reuse.
- Market buy ``sz`` is QUOTE currency unless ``tgtCcy=base_ccy`` (docs, place order: tgtCcy
  "Only applicable to SPOT Market Orders. Default is quote_ccy for buy, base_ccy for sell").
  ccxt sends ``tgtCcy`` = options tgtCcy, default 'base_ccy', on every spot order, so its market
  buys are sized in base (create_order_request ~3214-3217).
- Lot and tick from the instrument: sz a multiple of lotSz (51121) and >= minSz (51020), px a
  multiple of tickSz (51000 "Parameter px error": the code for a tick violation is a guess).
- Insufficient balance: sCode 51008 (ccxt: InsufficientFunds).
- Fees in the currency received (buy -> base), negative numbers (fee, fillFee / fee in fills),
  feeCcy (ccxt negates them: parse_order ~4224, parse_trade ~2515).
- States live, partially_filled, filled, canceled, mmp_canceled (ccxt parse_order_status
  ~3973). A market order the book cannot complete ends ``canceled`` with accFillSz > 0 (an
  assumption). fetch_closed_orders asks orders-history with state=filled, so such an order is
  NOT in it (ccxt ~4827).
- GET trade/fills and fills-history (instType required) return tradeId, billId, fillPx/fillSz,
  fee/feeCcy; orders-pending; orders-history (instType required). Newest first.
- account/balance: details per currency with availBal, availEq "" (spot mode), cashBal, eq,
  frozenBal, ordFrozen (ccxt parse_trading_balance ~2818 reads eq, availEq or availBal,
  frozenBal). Currencies with a zero balance are left out (``list_zero_balances``; from memory).
- 429: ``{"msg": "Too Many Requests", "code": "50011"}``; no Retry-After header unless
  ``retry_after_header`` (the docs do not promise one). OKX has no 418: scripting it raises.
- load_markets calls public/instruments for SPOT, FUTURES, SWAP and OPTION (two ``uly``) and,
  with credentials, private asset/currencies (ccxt fetch_markets ~1760, fetch_currencies ~2020).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib.util
import json
import re
import sys
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from time import monotonic
from typing import Any
from urllib.parse import parse_qsl


def _load(name: str) -> Any:
    key = f"_oxbot_exchange_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, Path(__file__).with_name(f"{name}.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


base = _load("fake_base")
FakeExchange, Reply = base.FakeExchange, base.Reply
generated_klines = base.generated_klines

API_KEY = "okx-fake-key-0123456789abcdef"
SECRET = "okX-fake-secret-ABCDEF0123456789"
PASSPHRASE = "Fake-Passphrase-1"
INST = "BTC-USDT"
LIVE = ("live", "partially_filled")
BARS = {
    "1m",
    "3m",
    "5m",
    "15m",
    "30m",
    "1H",
    "2H",
    "4H",
    "6Hutc",
    "12Hutc",
    "1Dutc",
    "1Wutc",
    "1Mutc",
    "6H",
    "12H",
    "1D",
    "1W",
    "1M",
}
CLORDID = re.compile(r"^[A-Za-z0-9]{1,32}$")


def s(x: Decimal | None) -> str:
    """OKX writes plain numbers without trailing zeros; "" when not applicable."""
    if x is None:
        return ""
    out = format(x, "f")
    return out.rstrip("0").rstrip(".") if "." in out else out


def ok(data: list[Any]) -> Any:
    return Reply(200, {"code": "0", "msg": "", "data": data})


def fail(code: str, msg: str, status: int = 200) -> Any:
    return Reply(status, {"code": code, "msg": msg, "data": []})


@dataclass
class OkxOrder:
    ord_id: str
    cl_ord_id: str
    tag: str
    side: str  # buy / sell
    ord_type: str  # market / limit
    sz: Decimal  # as sent: base, or quote for a quote-sized market order
    tgt_ccy: str  # base_ccy / quote_ccy / "" (limit orders)
    px: Decimal | None
    c_time: int
    state: str = "live"
    acc_fill_sz: Decimal = Decimal(0)
    notional: Decimal = Decimal(0)
    fee: Decimal = Decimal(0)  # negative: charged
    fee_ccy: str = ""
    last: dict[str, Any] = field(default_factory=dict)
    u_time: int = 0
    created_mono: float = field(default_factory=monotonic)

    @property
    def base_sz(self) -> Decimal | None:
        return None if self.tgt_ccy == "quote_ccy" else self.sz

    def as_json(self) -> dict[str, Any]:
        avg = self.notional / self.acc_fill_sz if self.acc_fill_sz else None
        return {
            "instType": "SPOT",
            "instId": INST,
            "tgtCcy": self.tgt_ccy,
            "ccy": "",
            "ordId": self.ord_id,
            "clOrdId": self.cl_ord_id,
            "tag": self.tag,
            "px": s(self.px),
            "pxUsd": "",
            "pxVol": "",
            "pxType": "",
            "sz": s(self.sz),
            "pnl": "0",
            "ordType": self.ord_type,
            "side": self.side,
            "posSide": "net",
            "tdMode": "cash",
            "accFillSz": s(self.acc_fill_sz),
            "fillPx": self.last.get("fillPx", ""),
            "tradeId": self.last.get("tradeId", ""),
            "fillSz": self.last.get("fillSz", "0"),
            "fillTime": self.last.get("ts", ""),
            "avgPx": s(avg),
            "state": self.state,
            "lever": "",
            "attachAlgoClOrdId": "",
            "tpTriggerPx": "",
            "tpTriggerPxType": "",
            "tpOrdPx": "",
            "slTriggerPx": "",
            "slTriggerPxType": "",
            "slOrdPx": "",
            "attachAlgoOrds": [],
            "linkedAlgoOrd": {"algoId": ""},
            "stpId": "",
            "stpMode": "cancel_maker",
            "feeCcy": self.fee_ccy,
            "fee": s(self.fee),
            "rebateCcy": "",
            "rebate": "0",
            "source": "",
            "category": "normal",
            "reduceOnly": "false",
            "isTpLimit": "false",
            "cancelSource": "",
            "cancelSourceReason": "",
            "quickMgnType": "",
            "algoClOrdId": "",
            "algoId": "",
            "uTime": str(self.u_time or self.c_time),
            "cTime": str(self.c_time),
        }


@dataclass
class FakeOkx(FakeExchange):  # type: ignore[misc,valid-type]
    """State of the fake OKX: ``orders`` by ordId, ``by_clordid`` (newest), ``fills`` rows."""

    exchange_id = "okx"
    orders: dict[str, OkxOrder] = field(default_factory=dict)
    by_clordid: dict[str, OkxOrder] = field(default_factory=dict)
    fills: list[dict[str, Any]] = field(default_factory=list)
    fee_mode: str = "received"
    dup_scope: str = "live"
    lot_sz: Decimal = Decimal("0.00000001")
    min_sz: Decimal = Decimal("0.00001")
    tick_sz: Decimal = Decimal("0.1")
    api_key: str = API_KEY
    secret: str = SECRET
    passphrase: str = PASSPHRASE
    simulated: bool = False  # a demo-trading key: needs x-simulated-trading: 1
    timestamp_window_s: int = 30
    retry_after_header: bool = False
    list_zero_balances: bool = False
    _seq: int = 0
    _fill_mono: dict[str, float] = field(default_factory=dict)

    def credentials(self) -> dict[str, str]:
        return {"apiKey": self.api_key, "secret": self.secret, "password": self.passphrase}

    def _id(self, start: int) -> str:
        self._seq += 1
        return str(start + self._seq)

    # ------------------------------------------------------------------ hooks
    def parse_params(self, req: Any) -> Any:
        if req.method == "GET":
            return dict(parse_qsl(req.raw_query, keep_blank_values=True))
        try:
            return json.loads(req.body) if req.body else {}
        except ValueError:
            return None

    def is_signed(self, req: Any) -> bool:
        return "OK-ACCESS-SIGN" in req.headers

    def _supported(self, fault: str) -> None:
        if fault == "418":
            raise ValueError("OKX has no 418 (IP ban) answer; use 429")

    def rate_limited(self, kind: str) -> Any:
        headers = {"Retry-After": str(self.retry_after_s)} if self.retry_after_header else {}
        return Reply(429, {"msg": "Too Many Requests", "code": "50011"}, headers)

    def admit(self, req: Any) -> Any:
        path = req.path.removeprefix("/api/v5/")
        if not path.startswith(("trade/", "account/", "asset/")):
            return None
        h = req.headers
        for header, code in (
            ("OK-ACCESS-KEY", "50103"),
            ("OK-ACCESS-PASSPHRASE", "50104"),
            ("OK-ACCESS-SIGN", "50106"),
            ("OK-ACCESS-TIMESTAMP", "50107"),
        ):
            if not h.get(header):
                return fail(code, f'Request header "{header}" can not be empty.', 401)
        if h["OK-ACCESS-KEY"] != self.api_key:
            return fail("50111", "Invalid OK-ACCESS-KEY", 401)
        if (h.get("x-simulated-trading") == "1") != self.simulated:
            return fail("50101", "APIKey does not match current environment.", 401)
        try:
            ts = datetime.fromisoformat(h["OK-ACCESS-TIMESTAMP"].replace("Z", "+00:00"))
        except ValueError:
            return fail("50112", "Invalid OK-ACCESS-TIMESTAMP", 401)
        if abs(self.server_ms() - ts.timestamp() * 1000) > self.timestamp_window_s * 1000:
            return fail("50102", "Timestamp request expired", 401)
        if h["OK-ACCESS-PASSPHRASE"] != self.passphrase:
            return fail("50105", "OK-ACCESS-PASSPHRASE incorrect", 401)
        target = req.path + ("?" + req.raw_query if req.raw_query else "")
        prehash = h["OK-ACCESS-TIMESTAMP"] + req.method + target + req.body
        want = base64.b64encode(
            hmac.new(self.secret.encode(), prehash.encode(), hashlib.sha256).digest()
        ).decode()
        if not hmac.compare_digest(want, h["OK-ACCESS-SIGN"]):
            return fail("50113", "Invalid Sign", 401)
        return None

    def apply(self, req: Any) -> Any:
        self._cross_resting()
        p = req.params
        if p is None:
            return fail("50002", "JSON syntax error", 400)
        route = (req.method, req.path.removeprefix("/api/v5/"))
        if route == ("GET", "public/time"):
            return ok([{"ts": str(self.server_ms())}])
        if route == ("GET", "public/instruments"):
            return self._instruments(p)
        if route == ("GET", "asset/currencies"):
            return ok(
                [
                    {
                        "ccy": c,
                        "chain": f"{c}-{c}",
                        "name": c,
                        "canDep": True,
                        "canWd": True,
                        "canInternal": True,
                        "minWd": "0",
                        "maxWd": "1000000",
                        "minFee": "0",
                        "maxFee": "0",
                        "wdTickSz": "8",
                        "mainNet": True,
                    }
                    for c in (self.base_asset, self.quote_asset)
                ]
            )
        if route[0] == "GET" and route[1].startswith("market/") and p.get("instId") != INST:
            return fail("51001", "Instrument ID does not exist")
        if route == ("GET", "market/ticker"):
            return ok([self._ticker()])
        if route == ("GET", "market/books"):
            return ok(
                [
                    {
                        "asks": self._levels("buy"),
                        "bids": self._levels("sell"),
                        "ts": str(self.now_ms),
                    }
                ]
            )
        if route in (("GET", "market/candles"), ("GET", "market/history-candles")):
            return self._candles(p)
        if route == ("GET", "account/balance"):
            return ok([self._balance(p)])
        if route == ("POST", "trade/order"):
            return self._place([p], batch=False)
        if route == ("POST", "trade/batch-orders"):
            return self._place(p if isinstance(p, list) else [p], batch=True)
        if route == ("POST", "trade/cancel-order"):
            return self._cancel(p)
        if route == ("GET", "trade/order"):
            return self._order(p)
        if route == ("GET", "trade/orders-pending"):
            return ok(self._listed(p, LIVE))
        if route in (("GET", "trade/orders-history"), ("GET", "trade/orders-history-archive")):
            if not p.get("instType"):
                return fail("50014", "Parameter instType can not be empty.")
            wanted = (p["state"],) if p.get("state") else ("canceled", "filled", "mmp_canceled")
            return ok(self._listed(p, wanted))
        if route in (("GET", "trade/fills"), ("GET", "trade/fills-history")):
            if route[1] == "trade/fills-history" and not p.get("instType"):
                return fail("50014", "Parameter instType can not be empty.")
            return ok(self._fills(p))
        return fail("50000", f"fake exchange: no route {req.method} {req.path}", 404)

    # ------------------------------------------------------------------ public
    def instrument(self) -> dict[str, Any]:
        return {
            "instType": "SPOT",
            "instId": INST,
            "instFamily": "",
            "uly": "",
            "baseCcy": self.base_asset,
            "quoteCcy": self.quote_asset,
            "settleCcy": "",
            "ctVal": "",
            "ctMult": "",
            "ctValCcy": "",
            "ctType": "",
            "optType": "",
            "stk": "",
            "listTime": "1548133413000",
            "expTime": "",
            "lever": "10",
            "tickSz": s(self.tick_sz),
            "lotSz": s(self.lot_sz),
            "minSz": s(self.min_sz),
            "maxLmtSz": "9999999999",
            "maxMktSz": "1000000",
            "maxLmtAmt": "20000000",
            "maxMktAmt": "1000000",
            "alias": "",
            "state": "live",
            "ruleType": "normal",
            "category": "1",
        }

    def _instruments(self, p: dict[str, str]) -> Any:
        kind = p.get("instType")
        if not kind:
            return fail("50014", "Parameter instType can not be empty.")
        if kind != "SPOT" or p.get("instId", INST) != INST:
            return ok([])
        return ok([self.instrument()])

    def _levels(self, side: str) -> list[list[str]]:
        return [
            [s(px), s(q if q is not None else Decimal(1000)), "0", "1"] for px, q in self.book(side)
        ]

    def _ticker(self) -> dict[str, Any]:
        return {
            "instType": "SPOT",
            "instId": INST,
            "last": s(self.price),
            "lastSz": "0.01",
            "askPx": s(self.book("buy")[0][0]),
            "askSz": "1",
            "bidPx": s(self.book("sell")[0][0]),
            "bidSz": "1",
            "open24h": s(self.price),
            "high24h": s(self.price),
            "low24h": s(self.price),
            "volCcy24h": "100000",
            "vol24h": "1000",
            "sodUtc0": s(self.price),
            "sodUtc8": s(self.price),
            "ts": str(self.now_ms),
        }

    def _candles(self, p: dict[str, str]) -> Any:
        if p.get("bar", "1m") not in BARS:
            return fail("51000", "Parameter bar error")
        limit = min(int(p.get("limit", 100)), 300)
        after, before = int(p.get("after", 2**62)), int(p.get("before", -1))
        rows = [k for k in self.klines if before < k[0] < after]
        tf = self.klines[1][0] - self.klines[0][0] if len(self.klines) > 1 else 60_000
        return ok(
            [
                [
                    str(k[0]),
                    k[1],
                    k[2],
                    k[3],
                    k[4],
                    k[5],
                    s(Decimal(k[5]) * Decimal(k[4])),
                    s(Decimal(k[5]) * Decimal(k[4])),
                    "1" if k[0] + tf <= self.now_ms else "0",
                ]
                for k in reversed(rows[-limit:])
            ]
        )

    # ------------------------------------------------------------------ balances
    def locked(self, asset: str) -> Decimal:
        out = Decimal(0)
        for o in self.orders.values():
            if o.state in LIVE and o.ord_type == "limit":
                left = o.sz - o.acc_fill_sz
                if o.side == "buy" and asset == self.quote_asset:
                    out += left * o.px  # type: ignore[operator]
                elif o.side == "sell" and asset == self.base_asset:
                    out += left
        return out

    def free(self, asset: str) -> Decimal:
        return self.balances.get(asset, Decimal(0)) - self.locked(asset)

    def _balance(self, p: dict[str, str]) -> dict[str, Any]:
        wanted = set(p["ccy"].split(",")) if p.get("ccy") else set(self.balances)
        details = [
            {
                "ccy": c,
                "eq": s(v),
                "cashBal": s(v),
                "availBal": s(self.free(c)),
                "availEq": "",
                "frozenBal": s(self.locked(c)),
                "ordFrozen": s(self.locked(c)),
                "fixedBal": "0",
                "disEq": "",
                "eqUsd": "",
                "isoEq": "",
                "liab": "",
                "upl": "",
                "uTime": str(self.now_ms),
            }
            for c, v in self.balances.items()
            if c in wanted and (v != 0 or self.list_zero_balances)
        ]
        return {
            "adjEq": "",
            "details": details,
            "imr": "",
            "isoEq": "",
            "mgnRatio": "",
            "mmr": "",
            "notionalUsd": "",
            "ordFroz": "",
            "totalEq": "",
            "uTime": str(self.now_ms),
        }

    # ------------------------------------------------------------------ orders
    def _refuse(self, o: dict[str, Any]) -> tuple[str, str] | None:
        if o.get("instId") != INST:
            return "51001", "Instrument ID does not exist."
        if o.get("tdMode") != "cash":
            return "51000", "Parameter tdMode error"
        if o.get("side") not in ("buy", "sell"):
            return "51000", "Parameter side error"
        if o.get("ordType") not in ("market", "limit"):
            return "51000", "Parameter ordType error"
        cl = o.get("clOrdId", "")
        if cl and not CLORDID.match(cl):
            return "51000", "Parameter clOrdId error"
        if cl and any(
            x.cl_ord_id == cl and (self.dup_scope == "all" or x.state in LIVE)
            for x in self.orders.values()
        ):
            return "51016", "Duplicated clOrdId"
        if not re.match(r"^\d+(\.\d+)?$", str(o.get("sz", ""))):
            return "51000", "Parameter sz error"
        if o["ordType"] == "limit":
            px = str(o.get("px", ""))
            if not re.match(r"^\d+(\.\d+)?$", px) or not base.multiple_of(
                Decimal(px), self.tick_sz
            ):
                return "51000", "Parameter px error"
        return None

    def _sizing(self, o: dict[str, Any]) -> tuple[str, Decimal | None, Decimal | None]:
        """(tgtCcy as OKX applies it, base size, quote size)."""
        sz = Decimal(str(o["sz"]))
        if o["ordType"] != "market":
            return "", sz, None
        default = "quote_ccy" if o["side"] == "buy" else "base_ccy"
        tgt = o.get("tgtCcy") or default
        return (tgt, None, sz) if tgt == "quote_ccy" else (tgt, sz, None)

    def _place_one(self, o: dict[str, Any]) -> dict[str, Any]:
        ts = str(self.now_ms)
        head = {
            "clOrdId": o.get("clOrdId", "") if isinstance(o, dict) else "",
            "ordId": "",
            "tag": o.get("tag", "") if isinstance(o, dict) else "",
            "ts": ts,
        }
        refused = self._refuse(o) if isinstance(o, dict) else ("50002", "JSON syntax error")
        if refused is None:
            tgt, qty, quote = self._sizing(o)
            px = Decimal(str(o["px"])) if o["ordType"] == "limit" else None
            est = qty if qty is not None else quote / self.price  # type: ignore[operator]
            if qty is not None and not base.multiple_of(qty, self.lot_sz):
                refused = "51121", "Order quantity must be a multiple of the lot size."
            elif est < self.min_sz:
                refused = "51020", "Your order should meet or exceed the minimum order amount."
            else:
                walk = self.walk(o["side"], self.lot_sz, qty=qty, quote=quote, limit=px)
                refused = self._unaffordable(o["side"], qty, quote, px, walk)
        if refused is not None:
            return {**head, "sCode": refused[0], "sMsg": refused[1]}
        order = OkxOrder(
            self._id(600_000_000_000_000_000),
            head["clOrdId"],
            head["tag"],
            o["side"],
            o["ordType"],
            Decimal(str(o["sz"])),
            tgt,
            px,
            self.now_ms,
            fee_ccy=self.base_asset if o["side"] == "buy" else self.quote_asset,
        )
        self.orders[order.ord_id] = order
        if order.cl_ord_id:
            self.by_clordid[order.cl_ord_id] = order
        if order.ord_type == "market" and self.match_lag_s > 0:
            self._later(
                self.match_lag_s,
                lambda: self._execute(
                    order, self.walk(order.side, self.lot_sz, qty=qty, quote=quote)
                ),
            )
        else:
            self._execute(order, walk)
        return {**head, "ordId": order.ord_id, "sCode": "0", "sMsg": ""}

    def _unaffordable(
        self,
        side: str,
        qty: Decimal | None,
        quote: Decimal | None,
        px: Decimal | None,
        walk: list[tuple[Decimal, Decimal]],
    ) -> tuple[str, str] | None:
        if side == "sell":
            need, ccy = qty or Decimal(0), self.base_asset
        elif px is not None:
            need, ccy = (qty or Decimal(0)) * px, self.quote_asset
        else:
            need = quote if quote is not None else sum((p * q for p, q in walk), Decimal(0))
            ccy = self.quote_asset
        if self.free(ccy) < need:
            return "51008", f"Order failed. Insufficient {ccy} balance in account."
        return None

    def _place(self, orders: list[Any], batch: bool) -> Any:
        data = [self._place_one(o) for o in orders]
        failed = sum(1 for d in data if d["sCode"] != "0")
        code = "0" if not failed else ("1" if failed == len(data) else "2")
        msg = {"0": "", "1": "All operations failed", "2": "Bulk operation partially succeeded"}
        return Reply(
            200,
            {
                "code": code,
                "msg": msg[code],
                "data": data,
                "inTime": str(self.server_ms() * 1000),
                "outTime": str(self.server_ms() * 1000),
            },
        )

    def _execute(self, order: OkxOrder, walk: list[tuple[Decimal, Decimal]]) -> None:
        for px, q in walk:
            self._fill(order, q, px, "T")
        done = (
            order.acc_fill_sz == order.sz
            if order.base_sz is not None
            else order.sz - order.notional < self.price * self.lot_sz
        )
        if done:
            order.state = "filled"
        elif order.ord_type == "market":
            order.state = "canceled"  # the book ran out: what is left is cancelled
        elif order.acc_fill_sz > 0:
            order.state = "partially_filled"

    def _fill(self, order: OkxOrder, qty: Decimal, px: Decimal, exec_type: str) -> None:
        fee, ccy = self.fee_of(order.side, qty, px, self.fee_mode)
        self.move_balances(order.side, qty, px, fee, ccy)
        order.acc_fill_sz += qty
        order.notional += qty * px
        order.fee -= fee
        order.fee_ccy = ccy
        order.u_time = self.now_ms
        row = {
            "instType": "SPOT",
            "instId": INST,
            "tradeId": self._id(100_000_000),
            "ordId": order.ord_id,
            "clOrdId": order.cl_ord_id,
            "billId": self._id(700_000_000_000_000_000),
            "subType": "1" if order.side == "buy" else "2",
            "tag": order.tag,
            "fillPx": s(px),
            "fillSz": s(qty),
            "fillIdxPx": "",
            "fillPnl": "0",
            "fillPxVol": "",
            "fillPxUsd": "",
            "fillMarkVol": "",
            "fillFwdPx": "",
            "fillMarkPx": "",
            "side": order.side,
            "posSide": "net",
            "execType": exec_type,
            "feeCcy": ccy,
            "fee": s(-fee),
            "ts": str(self.now_ms),
            "fillTime": str(self.now_ms),
        }
        self.fills.append(row)
        self._fill_mono[row["tradeId"]] = monotonic()
        order.last = row

    def _cross_resting(self) -> None:
        for o in list(self.orders.values()):
            if (
                o.state in LIVE
                and o.ord_type == "limit"
                and (
                    (o.side == "buy" and self.price <= o.px)  # type: ignore[operator]
                    or (o.side == "sell" and self.price >= o.px)
                )
            ):  # type: ignore[operator]
                self._fill(o, o.sz - o.acc_fill_sz, o.px, "M")  # type: ignore[arg-type]
                o.state = "filled"

    def force_state(self, order: OkxOrder, state: str) -> None:
        """End ``order`` as the exchange would by itself ("canceled", "mmp_canceled")."""
        order.state, order.u_time = state, self.now_ms

    def _lookup(self, p: dict[str, str]) -> OkxOrder | None:
        order = (
            self.orders.get(p["ordId"])
            if p.get("ordId")
            else self.by_clordid.get(p.get("clOrdId", ""))
        )
        if order is None or not self.visible(order.created_mono, self.order_lag_s):
            return None
        return order

    def _order(self, p: dict[str, str]) -> Any:
        if not p.get("ordId") and not p.get("clOrdId"):
            return fail("51003", "Either client order ID or order ID is required.")
        order = self._lookup(p)
        if order is None or p.get("instId") != INST:
            return fail("51603", "Order does not exist")
        return ok([order.as_json()])

    def _cancel(self, p: dict[str, Any]) -> Any:
        order = self._lookup(p)
        head = {
            "clOrdId": p.get("clOrdId", ""),
            "ordId": p.get("ordId", ""),
            "ts": str(self.now_ms),
        }
        if order is None:
            sc = (
                "51400",
                "Order cancellation failed as the order has been filled, canceled "
                "or does not exist.",
            )
        elif order.state == "filled":
            sc = "51402", "Order has been completed."
        elif order.state not in LIVE:
            sc = "51401", "Order has been canceled."
        else:
            order.state, order.u_time = "canceled", self.now_ms
            return ok(
                [
                    {
                        **head,
                        "clOrdId": order.cl_ord_id,
                        "ordId": order.ord_id,
                        "sCode": "0",
                        "sMsg": "",
                    }
                ]
            )
        return Reply(
            200,
            {
                "code": "1",
                "msg": "All operations failed",
                "data": [{**head, "sCode": sc[0], "sMsg": sc[1]}],
            },
        )

    def _listed(self, p: dict[str, str], states: tuple[str, ...]) -> list[dict[str, Any]]:
        rows = [
            o
            for o in self.orders.values()
            if o.state in states
            and p.get("instId", INST) == INST
            and p.get("instType", "SPOT") == "SPOT"
            and int(p.get("begin", 0)) <= o.c_time <= int(p.get("end", 2**62))
            and self.visible(o.created_mono, self.order_lag_s)
        ]
        rows.sort(key=lambda o: int(o.ord_id), reverse=True)
        return [o.as_json() for o in rows[: min(int(p.get("limit", 100)), 100)]]

    def _fills(self, p: dict[str, str]) -> list[dict[str, Any]]:
        rows = [
            f
            for f in reversed(self.fills)
            if self.visible(self._fill_mono.get(f["tradeId"], 0.0), self.fills_lag_s)
            and f["ordId"] == p.get("ordId", f["ordId"])
            and p.get("instId", INST) == INST
            and int(p.get("after", 2**62)) > int(f["billId"]) > int(p.get("before", -1))
            and int(p.get("begin", 0)) <= int(f["ts"]) <= int(p.get("end", 2**62))
        ]
        return rows[: min(int(p.get("limit", 100)), 100)]

    # ------------------------------------------------------------------ views
    def orders_view(self) -> list[dict[str, Any]]:
        view = {
            "live": "open",
            "partially_filled": "partially_filled",
            "filled": "filled",
            "canceled": "canceled",
            "mmp_canceled": "canceled",
        }
        trades = self.trades_view()
        return [
            {
                "client_order_id": o.cl_ord_id,
                "exchange_order_id": o.ord_id,
                "symbol": "BTC/USDT",
                "side": o.side,
                "status": view[o.state],
                "amount": o.base_sz,
                "quote_amount": o.sz if o.base_sz is None else None,
                "filled": o.acc_fill_sz,
                "trades": [t for t in trades if t["exchange_order_id"] == o.ord_id],
            }
            for o in self.orders.values()
        ]

    def trades_view(self) -> list[dict[str, Any]]:
        return [
            {
                "trade_id": f["tradeId"],
                "exchange_order_id": f["ordId"],
                "client_order_id": f["clOrdId"],
                "symbol": "BTC/USDT",
                "side": f["side"],
                "amount": Decimal(f["fillSz"]),
                "price": Decimal(f["fillPx"]),
                "fee": -Decimal(f["fee"]),
                "fee_currency": f["feeCcy"],
            }
            for f in self.fills
        ]
