"""A strict fake of Bybit v5 spot (REST): an adversary wrote it (session 25) to run oxbot LIVE bots
against, and test_exchange_bybit.py starts it as a process of its own.

Modelled on Bybit's v5 docs and on ccxt 4.5.90's bybit.py (the client oxbot uses):
- every reply is HTTP 200 with {"retCode", "retMsg", "result", "retExtInfo", "time"}; errors are
  retCode != 0 (docs: v5/error);
- private requests are signed: X-BAPI-SIGN = HMAC_SHA256(secret, timestamp + apiKey + recvWindow +
  (query string | JSON body)) (ccxt bybit.py ``sign``); the timestamp must satisfy
  server_time - recv_window <= ts < server_time + 1000, else 10002;
- POST /v5/order/create answers only {"orderId", "orderLinkId"} (docs v5/order/create-order);
  a spot Market Buy's qty is in the QUOTE coin unless marketUnit=baseCoin;
  qty decimals beyond basePrecision -> 170137, below minOrderQty -> 170136, below minOrderAmt ->
  170140, not enough balance -> 170131, orderLinkId reused -> 170141 "Duplicate clientOrderId";
- a market order is matched asynchronously: it is "New" first, then its executions appear;
- GET /v5/order/realtime: openOnly=0 (default) open orders only; openOnly=1 the recent closed
  ones (docs v5/order/open-order); GET /v5/order/history filters on orderStatus exactly;
- GET /v5/execution/list: the executions, execFee + feeCoin (ccxt's own sample, bybit.py ~3215);
- spot fees: by default a Buy pays in the base coin, a Sell in the quote coin.

Faults are injected through POST /_ctl (JSON, see ``Faults``), and the fake's own record of
orders, executions and balances is GET /_state (also written to STATE_FILE on every change).

Run: python fake_bybit.py PORT STATE_FILE [API_KEY SECRET]
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import math
import sys
import time
from decimal import ROUND_DOWN, Decimal

from aiohttp import web

D = Decimal
KEY, SECRET = "advkey", "advsecret"
MARKETS = {
    "BTCUSDT": {
        "base": "BTC",
        "quote": "USDT",
        "basePrecision": "0.000001",
        "quotePrecision": "0.00000001",
        "minOrderQty": "0.000048",
        "maxOrderQty": "71.73956243",
        "minOrderAmt": "1",
        "maxOrderAmt": "2000000",
        "tickSize": "0.01",
        "price0": 30000.0,
    },
    "ETHUSDT": {
        "base": "ETH",
        "quote": "USDT",
        "basePrecision": "0.00001",
        "quotePrecision": "0.0000001",
        "minOrderQty": "0.00062",
        "maxOrderQty": "1229.2336343",
        "minOrderAmt": "1",
        "maxOrderAmt": "2000000",
        "tickSize": "0.01",
        "price0": 2000.0,
    },
    "DOGEUSDT": {
        "base": "DOGE",
        "quote": "USDT",
        "basePrecision": "0.1",
        "quotePrecision": "0.000001",
        "minOrderQty": "1",
        "maxOrderQty": "4000000",
        "minOrderAmt": "1",
        "maxOrderAmt": "200000",
        "tickSize": "0.00001",
        "price0": 0.1,
    },
}
FEE_RATE = D("0.001")


def now_ms() -> int:
    return int(time.time() * 1000)


def price_at(symbol: str, t_ms: int) -> float:
    """A zigzag: each minute's close alternates +-1.5 % around the base, so an sma_cross with
    fast=1, slow=2 crosses every minute; a small ripple inside the minute."""
    p0 = MARKETS[symbol]["price0"]
    minute = t_ms // 60000
    sign = 1 if minute % 2 else -1
    ripple = 0.001 * math.sin(t_ms / 7000.0)
    return round(p0 * (1 + 0.015 * sign + ripple), 2 if p0 >= 1 else 5)


class Faults:
    """What to do to the next requests. Counters are decremented as they fire."""

    def __init__(self) -> None:
        self.unified = True  # UTA account (user/query-api uta=1)
        self.fee_coin = "native"  # native (buy: base, sell: quote) | quote | base | MNT
        self.fee_field = "feeCoin"  # how executions name the fee coin ("" : not at all)
        self.parts = 1  # executions per order
        self.fill_ratio = D(1)  # < 1: market order ends PartiallyFilledCanceled
        self.match_delay_s = 0.3  # market order stays New this long
        self.drop_create = 0  # apply the order, then answer 502 (a lost reply)
        self.stall_create = 0  # apply the order, then stall past the client's timeout
        self.late_create = 0  # answer 502 at once, apply the order later (late_after_s)
        self.late_after_s = 3.0
        self.rate_limit = 0  # next N private requests: retCode 10006
        self.server_error = 0  # next N private requests: HTTP 503
        self.malformed = 0  # next N private requests: a truncated body
        self.err_create: list[dict] = []  # next create_order answers: {"retCode":..,"retMsg":..}
        self.realtime_empty = False  # /v5/order/realtime never shows closed orders (restart)
        # spot executions: execFee "0", the fee in execFeeV2 + feeCurrency
        self.fee_v2 = False

    def update(self, data: dict) -> None:
        for k, v in data.items():
            if not hasattr(self, k):
                raise KeyError(k)
            if k == "fill_ratio":
                v = D(str(v))
            setattr(self, k, v)


class Exchange:
    def __init__(self, state_file: str) -> None:
        self.state_file = state_file
        self.balances: dict[str, Decimal] = {
            "USDT": D("100000"),
            "BTC": D("0"),
            "ETH": D("0"),
            "DOGE": D("0"),
        }
        self.balances["MNT"] = D("1000")
        self.orders: dict[str, dict] = {}
        self.by_link: dict[str, str] = {}
        self.executions: list[dict] = []
        self.log: list[dict] = []
        self.ids = itertools.count(1_900_000_000_000_000_000)
        self.exec_ids = itertools.count(5_000_000)
        self.faults = Faults()

    # ------------------------------------------------------------------ record
    def dump(self) -> dict:
        return {
            "balances": {k: str(v) for k, v in self.balances.items()},
            "orders": list(self.orders.values()),
            "executions": self.executions,
            "log": self.log[-500:],
        }

    def save(self) -> None:
        with open(self.state_file + ".tmp", "w") as f:
            json.dump(self.dump(), f, indent=1, default=str)
        import os

        os.replace(self.state_file + ".tmp", self.state_file)

    # ------------------------------------------------------------------ orders
    def validate(self, body: dict) -> tuple[int, str] | None:
        for k in ("category", "symbol", "side", "orderType", "qty"):
            if not body.get(k):
                return 10001, f"params error: {k} is required"
        if body["category"] != "spot":
            return 10001, "params error: category"
        m = MARKETS.get(body["symbol"])
        if m is None:
            return 10001, "params error: Symbol Is Invalid"
        if body["orderType"] != "Market":
            return 10001, "only Market orders in this fake"
        link = body.get("orderLinkId") or ""
        if len(link) > 36:
            return 10001, "params error: orderLinkId too long"
        if link and link in self.by_link:
            return 170141, "Duplicate clientOrderId."
        try:
            qty = D(str(body["qty"]))
        except Exception:  # noqa: BLE001
            return 10001, "params error: qty"
        unit = body.get("marketUnit") or ("quoteCoin" if body["side"] == "Buy" else "baseCoin")
        price = D(str(price_at(body["symbol"], now_ms())))
        if unit == "baseCoin":
            if qty % D(m["basePrecision"]) != 0:
                return 170137, "Order quantity has too many decimals."
            base_qty = qty
        else:
            if qty % D(m["quotePrecision"]) != 0:
                return 170148, "Market order amount decimal too long."
            base_qty = (qty / price).quantize(D(m["basePrecision"]), ROUND_DOWN)
        if base_qty < D(m["minOrderQty"]):
            return 170136, "Order quantity is lower than the minimum."
        if base_qty * price < D(m["minOrderAmt"]):
            return 170140, "Order value exceeded lower limit."
        if body["side"] == "Buy":
            if self.balances.get(m["quote"], D(0)) < base_qty * price * D("1.002"):
                return 170131, "Insufficient balance."
        elif self.balances.get(m["base"], D(0)) < base_qty:
            return 170131, "Insufficient balance."
        return None

    def accept(self, body: dict) -> dict:
        oid = str(next(self.ids))
        link = body.get("orderLinkId") or ""
        t = now_ms()
        order = {
            "symbol": body["symbol"],
            "orderType": "Market",
            "orderLinkId": link,
            "orderId": oid,
            "orderStatus": "New",
            "side": body["side"],
            "qty": str(body["qty"]),
            "marketUnit": body.get("marketUnit", ""),
            "price": "0",
            "avgPrice": "",
            "cumExecQty": "0",
            "cumExecValue": "0",
            "cumExecFee": "0",
            "cumFeeDetail": {},
            "leavesQty": "0",
            "leavesValue": "0",
            "timeInForce": "IOC",
            "createdTime": str(t),
            "updatedTime": str(t),
            "rejectReason": "EC_NoError",
            "isLeverage": "0",
            "triggerPrice": "",
            "takeProfit": "",
            "stopLoss": "",
            "reduceOnly": False,
            "closeOnTrigger": False,
            "positionIdx": 0,
            "stopOrderType": "",
            "category": "spot",
        }
        self.orders[oid] = order
        if link:
            self.by_link[link] = oid
        self.log.append(
            {"t": t, "event": "accepted", "orderId": oid, "orderLinkId": link, "body": body}
        )
        self.save()
        asyncio.get_running_loop().call_later(self.faults.match_delay_s, lambda: self.match(oid))
        return order

    def fee_coin(self, m: dict, side: str) -> str:
        mode = self.faults.fee_coin
        if mode == "native":
            return m["base"] if side == "Buy" else m["quote"]
        if mode == "quote":
            return m["quote"]
        if mode == "base":
            return m["base"]
        return mode

    def match(self, oid: str) -> None:
        o = self.orders[oid]
        m = MARKETS[o["symbol"]]
        price = D(str(price_at(o["symbol"], now_ms())))
        qty = D(o["qty"])
        unit = o["marketUnit"] or ("quoteCoin" if o["side"] == "Buy" else "baseCoin")
        base_qty = (
            qty if unit == "baseCoin" else (qty / price).quantize(D(m["basePrecision"]), ROUND_DOWN)
        )
        target = (base_qty * self.faults.fill_ratio).quantize(D(m["basePrecision"]), ROUND_DOWN)
        parts = max(1, int(self.faults.parts))
        step = (target / parts).quantize(D(m["basePrecision"]), ROUND_DOWN)
        done = D(0)
        value = D(0)
        fees: dict[str, Decimal] = {}
        for i in range(parts):
            q = step if i < parts - 1 else target - done
            if q <= 0:
                continue
            p = (price * (1 + D(i) / 10000)).quantize(D(m["tickSize"]))
            ev = q * p
            ccy = self.fee_coin(m, o["side"])
            fee = (q if ccy == m["base"] else ev if ccy == m["quote"] else ev / 1) * FEE_RATE
            if ccy not in (m["base"], m["quote"]):
                fee = (ev * FEE_RATE / D("0.8")).quantize(D("0.00000001"))  # MNT at 0.8 USDT
            fee = fee.quantize(D("0.00000001"))
            if o["side"] == "Buy":
                self.balances[m["quote"]] -= ev
                self.balances[m["base"]] += q
            else:
                self.balances[m["base"]] -= q
                self.balances[m["quote"]] += ev
            self.balances[ccy] = self.balances.get(ccy, D(0)) - fee
            fees[ccy] = fees.get(ccy, D(0)) + fee
            done += q
            value += ev
            ex = {
                "symbol": o["symbol"],
                "orderId": oid,
                "orderLinkId": o["orderLinkId"],
                "side": o["side"],
                "orderPrice": "0",
                "orderQty": o["qty"],
                "leavesQty": str(target - done),
                "orderType": "Market",
                "stopOrderType": "",
                "execFee": str(fee),
                "execId": str(next(self.exec_ids)),
                "execPrice": str(p),
                "execQty": str(q),
                "execType": "Trade",
                "execValue": str(ev),
                "execTime": str(now_ms()),
                "feeRate": str(FEE_RATE),
                "isMaker": False,
                "isLeverage": "0",
                "marketUnit": "",
                "seq": next(self.exec_ids),
                "category": "spot",
            }
            if self.faults.fee_field:
                ex[self.faults.fee_field] = ccy
            if self.faults.fee_v2:  # execFee deprecated for spot, the fee in execFeeV2
                ex["execFee"] = "0"
                ex["execFeeV2"] = str(fee)
            self.executions.append(ex)
        o["cumExecQty"] = str(done)
        o["cumExecValue"] = str(value)
        o["cumExecFee"] = str(sum(fees.values(), D(0)))
        o["cumFeeDetail"] = {k: str(v) for k, v in fees.items()}
        o["avgPrice"] = str((value / done).quantize(D("0.01"))) if done else ""
        o["orderStatus"] = (
            "Filled" if done == base_qty else ("PartiallyFilledCanceled" if done else "Cancelled")
        )
        o["updatedTime"] = str(now_ms())
        self.log.append(
            {
                "t": now_ms(),
                "event": "matched",
                "orderId": oid,
                "status": o["orderStatus"],
                "filled": str(done),
            }
        )
        self.save()


EX: Exchange


def reply(
    result: object = None, code: int = 0, msg: str = "OK", headers: dict | None = None
) -> web.Response:
    body = {
        "retCode": code,
        "retMsg": msg,
        "result": result if result is not None else {},
        "retExtInfo": {},
        "time": now_ms(),
    }
    return web.json_response(body, headers=headers)


async def auth(request: web.Request) -> tuple[dict, web.Response | None]:
    """The request's parameters, or an error reply (signature, timestamp)."""
    h = request.headers
    key, ts, recv, sign = (
        h.get("X-BAPI-API-KEY"),
        h.get("X-BAPI-TIMESTAMP"),
        h.get("X-BAPI-RECV-WINDOW"),
        h.get("X-BAPI-SIGN"),
    )
    if request.method == "POST":
        raw = await request.text()
        params = json.loads(raw) if raw else {}
    else:
        raw = request.query_string
        params = dict(request.query)
    if not key or not ts or not sign:
        return params, reply(code=10003, msg="API key is invalid.")
    if key != KEY:
        return params, reply(code=10003, msg="API key is invalid.")
    want = hmac.new(
        SECRET.encode(), (ts + key + (recv or "5000") + raw).encode(), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(want, sign):
        return params, reply(code=10004, msg="error sign! origin_string[...]")
    server = now_ms()
    window = int(recv or 5000)
    if not (server - window <= int(ts) < server + 1000):
        return params, reply(
            code=10002,
            msg=(
                "invalid request, please check your server timestamp or recv_window param. "
                f"req_timestamp[{ts}],server_timestamp[{server}],recv_window[{window}]"
            ),
        )
    f = EX.faults
    if f.rate_limit > 0:
        f.rate_limit -= 1
        return params, reply(
            code=10006,
            msg="Too many visits!",
            headers={
                "X-Bapi-Limit-Status": "0",
                "X-Bapi-Limit": "20",
                "X-Bapi-Limit-Reset-Timestamp": str(server + 1000),
            },
        )
    if f.server_error > 0:
        f.server_error -= 1
        return params, web.Response(
            status=503,
            text="<html><body>503 Service Temporarily Unavailable</body></html>",
            content_type="text/html",
        )
    if f.malformed > 0:
        f.malformed -= 1
        return params, web.Response(
            status=200,
            text='{"retCode":0,"retMsg":"OK","result":{"list":[{"sym',
            content_type="application/json",
        )
    return params, None


# ---------------------------------------------------------------------- public
async def server_time(request: web.Request) -> web.Response:
    t = now_ms()
    return reply({"timeSecond": str(t // 1000), "timeNano": str(t * 1_000_000)})


async def instruments(request: web.Request) -> web.Response:
    if request.query.get("category") != "spot":
        return reply({"category": request.query.get("category"), "list": []})
    out = []
    for sym, m in MARKETS.items():
        out.append(
            {
                "symbol": sym,
                "baseCoin": m["base"],
                "quoteCoin": m["quote"],
                "innovation": "0",
                "status": "Trading",
                "marginTrading": "utaOnly",
                "stTag": "0",
                "lotSizeFilter": {
                    k: m[k]
                    for k in (
                        "basePrecision",
                        "quotePrecision",
                        "minOrderQty",
                        "maxOrderQty",
                        "minOrderAmt",
                        "maxOrderAmt",
                    )
                },
                "priceFilter": {"tickSize": m["tickSize"]},
                "riskParameters": {"priceLimitRatioX": "0.01", "priceLimitRatioY": "0.02"},
            }
        )
    return reply({"category": "spot", "list": out})


async def tickers(request: web.Request) -> web.Response:
    syms = [request.query["symbol"]] if request.query.get("symbol") else list(MARKETS)
    out = []
    for s in syms:
        if s not in MARKETS:
            return reply(code=10001, msg="Not supported symbols")
        p = price_at(s, now_ms())
        out.append(
            {
                "symbol": s,
                "bid1Price": str(p - 0.01),
                "bid1Size": "1",
                "ask1Price": str(p + 0.01),
                "ask1Size": "1",
                "lastPrice": str(p),
                "prevPrice24h": str(p),
                "price24hPcnt": "0",
                "highPrice24h": str(p),
                "lowPrice24h": str(p),
                "turnover24h": "1000000",
                "volume24h": "100",
                "usdIndexPrice": str(p),
            }
        )
    return reply({"category": "spot", "list": out})


async def kline(request: web.Request) -> web.Response:
    q = request.query
    s = q.get("symbol")
    if s not in MARKETS:
        return reply(code=10001, msg="Not supported symbols")
    if q.get("interval") != "1":
        return reply(code=10001, msg="only interval=1 in this fake")
    limit = int(q.get("limit", 200))
    now = now_ms()
    cur = now // 60000 * 60000
    start = int(q["start"]) // 60000 * 60000 if q.get("start") else cur - (limit - 1) * 60000
    end = int(q["end"]) if q.get("end") else now
    rows = []
    t = start
    while t <= min(cur, end) and len(rows) < limit:
        o = price_at(s, t - 1) if t else price_at(s, t)
        c = price_at(s, min(t + 59999, now))
        rows.append(
            [
                str(t),
                str(o),
                str(max(o, c) * 1.001),
                str(min(o, c) * 0.999),
                str(c),
                "1.5",
                str(1.5 * c),
            ]
        )
        t += 60000
    rows.reverse()  # newest first, as Bybit
    return reply({"category": "spot", "symbol": s, "list": rows})


# ---------------------------------------------------------------------- private
async def query_api(request: web.Request) -> web.Response:
    params, err = await auth(request)
    if err:
        return err
    uta = 1 if EX.faults.unified else 0
    return reply(
        {
            "id": "1",
            "note": "adv",
            "apiKey": KEY,
            "readOnly": 0,
            "secret": "",
            "permissions": {"Spot": ["SpotTrade"], "Wallet": ["AccountTransfer"]},
            "ips": ["*"],
            "type": 1,
            "unified": 0,
            "uta": uta,
            "userID": 1,
            "isMaster": True,
        }
    )


async def account_info(request: web.Request) -> web.Response:
    params, err = await auth(request)
    if err:
        return err
    return reply(
        {
            "marginMode": "REGULAR_MARGIN",
            "unifiedMarginStatus": 6 if EX.faults.unified else 1,
            "updatedTime": str(now_ms()),
        }
    )


async def wallet_balance(request: web.Request) -> web.Response:
    params, err = await auth(request)
    if err:
        return err
    if not params.get("accountType"):
        return reply(code=10001, msg="accountType is required")
    coins = [
        {
            "coin": c,
            "walletBalance": str(v),
            "equity": str(v),
            "locked": "0",
            "free": str(v),
            "availableToWithdraw": str(v),
            "usdValue": "0",
            "borrowAmount": "0",
            "accruedInterest": "0",
            "totalOrderIM": "0",
            "totalPositionIM": "0",
            "unrealisedPnl": "0",
            "cumRealisedPnl": "0",
        }
        for c, v in EX.balances.items()
    ]
    return reply(
        {"list": [{"accountType": params["accountType"], "totalEquity": "0", "coin": coins}]}
    )


async def order_create(request: web.Request) -> web.Response:
    params, err = await auth(request)
    if err:
        return err
    f = EX.faults
    if f.err_create:
        e = f.err_create.pop(0)
        EX.log.append({"t": now_ms(), "event": "refused(injected)", "body": params, "reply": e})
        return reply(code=int(e["retCode"]), msg=e["retMsg"])
    bad = EX.validate(params)
    if bad:
        EX.log.append({"t": now_ms(), "event": "refused", "body": params, "retCode": bad[0]})
        EX.save()
        return reply(code=bad[0], msg=bad[1])
    if f.late_create > 0:
        f.late_create -= 1

        def later() -> None:
            if EX.validate(params) is None:
                EX.accept(params)

        asyncio.get_running_loop().call_later(f.late_after_s, later)
        EX.log.append({"t": now_ms(), "event": "queued(late)", "body": params})
        return web.Response(
            status=502, text="<html>502 Bad Gateway</html>", content_type="text/html"
        )
    order = EX.accept(params)
    if f.drop_create > 0:
        f.drop_create -= 1
        return web.Response(
            status=502, text="<html>502 Bad Gateway</html>", content_type="text/html"
        )
    if f.stall_create > 0:
        f.stall_create -= 1
        await asyncio.sleep(60)
    return reply({"orderId": order["orderId"], "orderLinkId": order["orderLinkId"]})


def _select(params: dict) -> list[dict]:
    if params.get("category") != "spot":
        return []
    rows = list(EX.orders.values())
    if params.get("orderId"):
        rows = [o for o in rows if o["orderId"] == params["orderId"]]
    elif params.get("orderLinkId"):
        rows = [o for o in rows if o["orderLinkId"] == params["orderLinkId"]]
    elif params.get("symbol"):
        rows = [o for o in rows if o["symbol"] == params["symbol"]]
    rows.sort(key=lambda o: int(o["createdTime"]), reverse=True)
    return rows


async def order_realtime(request: web.Request) -> web.Response:
    params, err = await auth(request)
    if err:
        return err
    if not params.get("category"):
        return reply(code=10001, msg="params error: category is required")
    rows = _select(params)
    if str(params.get("openOnly", "0")) == "0":
        rows = [o for o in rows if o["orderStatus"] in ("New", "PartiallyFilled", "Created")]
    elif EX.faults.realtime_empty:
        rows = []
    else:
        rows = [o for o in rows if o["orderStatus"] not in ("New", "PartiallyFilled", "Created")][
            :500
        ]
    limit = int(params.get("limit", 20))
    return reply({"category": "spot", "nextPageCursor": "", "list": rows[:limit]})


async def order_history(request: web.Request) -> web.Response:
    params, err = await auth(request)
    if err:
        return err
    if not params.get("category"):
        return reply(code=10001, msg="params error: category is required")
    rows = _select(params)
    rows = [o for o in rows if o["orderStatus"] not in ("New", "PartiallyFilled", "Created")]
    if params.get("orderStatus"):
        rows = [o for o in rows if o["orderStatus"] == params["orderStatus"]]
    limit = int(params.get("limit", 20))
    return reply({"category": "spot", "nextPageCursor": "", "list": rows[:limit]})


async def execution_list(request: web.Request) -> web.Response:
    params, err = await auth(request)
    if err:
        return err
    if not params.get("category"):
        return reply(code=10001, msg="params error: category is required")
    rows = [e for e in EX.executions]
    if params.get("orderId"):
        rows = [e for e in rows if e["orderId"] == params["orderId"]]
    elif params.get("orderLinkId"):
        rows = [e for e in rows if e["orderLinkId"] == params["orderLinkId"]]
    elif params.get("symbol"):
        rows = [e for e in rows if e["symbol"] == params["symbol"]]
    rows.sort(key=lambda e: int(e["execTime"]), reverse=True)
    limit = int(params.get("limit", 50))
    return reply({"category": "spot", "nextPageCursor": "", "list": rows[:limit]})


async def order_cancel(request: web.Request) -> web.Response:
    params, err = await auth(request)
    if err:
        return err
    return reply(code=170213, msg="Order does not exist.")


async def coin_info(request: web.Request) -> web.Response:
    params, err = await auth(request)
    if err:
        return err
    return reply(
        {
            "rows": [
                {"name": c, "coin": c, "remainAmount": "1000000", "chains": []}
                for c in ("BTC", "ETH", "USDT", "MNT", "DOGE")
            ]
        }
    )


async def ctl(request: web.Request) -> web.Response:
    data = await request.json()
    if "balances" in data:
        EX.balances = {k: D(str(v)) for k, v in data.pop("balances").items()}
    EX.faults.update(data)
    EX.save()
    return web.json_response(
        {"ok": True, "faults": {k: str(v) for k, v in vars(EX.faults).items()}}
    )


async def state(request: web.Request) -> web.Response:
    return web.json_response(EX.dump(), dumps=lambda o: json.dumps(o, default=str))


async def unknown(request: web.Request) -> web.Response:
    EX.log.append(
        {
            "t": now_ms(),
            "event": "unknown-endpoint",
            "path": request.path,
            "q": request.query_string,
        }
    )
    return web.Response(
        status=404,
        text=json.dumps({"retCode": 10404, "retMsg": f"no such path {request.path}"}),
        content_type="application/json",
    )


def main() -> None:
    global EX, KEY, SECRET
    port, state_file = int(sys.argv[1]), sys.argv[2]
    if len(sys.argv) > 4:
        KEY, SECRET = sys.argv[3], sys.argv[4]
    EX = Exchange(state_file)
    app = web.Application()
    r = app.router
    r.add_get("/v5/market/time", server_time)
    r.add_get("/v5/market/instruments-info", instruments)
    r.add_get("/v5/market/tickers", tickers)
    r.add_get("/v5/market/kline", kline)
    r.add_get("/v5/user/query-api", query_api)
    r.add_get("/v5/account/info", account_info)
    r.add_get("/v5/account/wallet-balance", wallet_balance)
    r.add_post("/v5/order/create", order_create)
    r.add_post("/v5/order/cancel", order_cancel)
    r.add_get("/v5/order/realtime", order_realtime)
    r.add_get("/v5/order/history", order_history)
    r.add_get("/v5/execution/list", execution_list)
    r.add_get("/v5/asset/coin/query-info", coin_info)
    r.add_post("/_ctl", ctl)
    r.add_get("/_state", state)
    r.add_route("*", "/{tail:.*}", unknown)
    EX.save()
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
