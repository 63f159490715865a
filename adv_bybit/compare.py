"""Ledger (oxbot's SQLite) against the fake's own record: orders, fills, coins.

python compare.py OXBOT_HOME
"""

import json
import sqlite3
import sys
from decimal import Decimal as D

home = sys.argv[1]
state = json.load(open(f"{home}/fake_state.json"))
db = sqlite3.connect(f"{home}/data/oxbot.db")
orders = {
    r[0]: r[1:] for r in db.execute("select client_order_id, side, qty, status, symbol from orders")
}
fills = db.execute(
    "select fill_id, client_order_id, qty, fee_currency, fee_cost, side, symbol, price from fills"
).fetchall()
ex = {e["execId"]: e for e in state["executions"]}
bad = 0
for o in state["orders"]:
    link = o["orderLinkId"]
    mine = orders.get(link)
    booked = sum(D(str(f[2])) for f in fills if f[1] == link)
    if mine is None or booked != D(o["cumExecQty"]):
        bad += 1
        print("DIFF order", link, o["orderStatus"], o["cumExecQty"], "ledger:", mine, booked)
for f in fills:
    e = ex.get(f[0].split(":", 1)[1])
    if e is None or D(e["execQty"]) != D(str(f[2])):
        bad += 1
        print("DIFF fill", f, e and e["execQty"])
for link, o in orders.items():
    if o[2] not in ("filled", "canceled", "rejected"):
        print("unresolved in ledger:", link, o)
held: dict[str, D] = {}
for f in fills:
    base = f[6].split("/")[0]
    q = D(str(f[2])) * (1 if f[5] == "buy" else -1)
    held[base] = held.get(base, D(0)) + q
    if f[3] == base and f[4] is not None:
        held[base] -= D(str(f[4]))
for coin, q in held.items():
    acct = D(state["balances"].get(coin, "0"))
    print(f"{coin}: ledger fills net {q}  account {acct}  diff {acct - q}")
cash = D(0)
for f in fills:
    v = D(str(f[2])) * D(str(f[7]))
    cash += -v if f[5] == "buy" else v
    if f[3] == f[6].split("/")[1] and f[4] is not None:
        cash -= D(str(f[4]))
print(f"USDT: ledger flow {cash}  account flow {D(state['balances']['USDT']) - D('100000')}")
print(
    "orders on exchange",
    len(state["orders"]),
    "ledger orders",
    len(orders),
    "fills",
    len(fills),
    "diffs",
    bad,
)
