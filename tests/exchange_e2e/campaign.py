"""What the LIVE fault campaigns share: both fake exchanges on a fast clock, the settings and
environment a user would give oxbot to reach them (no internal field injected), and the
comparison of a ledger with an exchange that every campaign ends with.

The engine is configured exactly as a user configures it: ``settings.json``'s ``exchanges``
entry points the exchange's URL at the fake (as a testnet or a gateway would be), sets ccxt's
``recvWindow`` and the retry/polling knobs; keys come from ``OXBOT_<EXCHANGE>_API_KEY`` /
``_SECRET`` / ``_PASSPHRASE`` (a documented source). The engine follows the exchange's own
clock for candle closes (feed.py), so a fake whose clock runs 600x needs nothing else.
"""

from __future__ import annotations

import json
import secrets
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from module_loading import load_by_path

_HERE = Path(__file__).parent
sup = load_by_path("_oxbot_exchange_e2e_e2e_support", _HERE / "e2e_support.py")
fake_okx = load_by_path("_oxbot_exchange_tests_fake_okx", _HERE.parent / "exchange" / "fake_okx.py")
fake_base = fake_okx.base
TF_MS = sup.TF_MS
S = fake_okx.s


@dataclass
class ClockedOkx(fake_okx.FakeOkx):  # type: ignore[misc,name-defined]
    """The fake OKX on a SpeedClock: candles up to now (the newest one still open,
    ``confirm`` "0"), the ticker at the open candle's price."""

    clock: Any = None

    def sync(self) -> None:
        self.now_ms = self.clock.now_ms()
        self.price = Decimal(str(sup.price_at(self.now_ms // TF_MS)))

    def _candles(self, p: dict[str, str]) -> Any:
        if p.get("bar", "1m") != "1m":
            return fake_okx.fail("51000", "Parameter bar error")
        # OKX: newest first; ``after`` = older than, ``before`` = newer than (ms); limit <= 300
        cur = self.now_ms // TF_MS
        limit = min(int(p.get("limit", 100)), 300)
        newest = min(cur, (int(p["after"]) - 1) // TF_MS) if "after" in p else cur
        oldest = int(p["before"]) // TF_MS + 1 if "before" in p else newest - limit + 1
        rows = []
        for i in range(newest, max(oldest, newest - limit + 1) - 1, -1):
            o, c = sup.price_at(i - 1), sup.price_at(i)
            rows.append(
                [
                    str(i * TF_MS),
                    f"{o:.2f}",
                    f"{max(o, c) + 0.3:.2f}",
                    f"{min(o, c) - 0.3:.2f}",
                    f"{c:.2f}",
                    "10.0",
                    S(Decimal("10") * Decimal(str(c))),
                    S(Decimal("10") * Decimal(str(c))),
                    "0" if i == cur else "1",
                ]
            )
        return fake_okx.ok(rows)


def clocked(kind: str, speed: float, **kw: Any) -> Any:
    """A fake ``kind`` exchange whose market clock runs ``speed`` times the wall clock, with a
    key of its own (key locks are per key: parallel tests must not share one)."""
    clock = sup.SpeedClock(speed=speed)
    cls = sup.ClockedFake if kind == "binance" else ClockedOkx
    fake = cls(clock=clock, **kw)
    fake.api_key = f"{fake.api_key[:12]}{secrets.token_hex(8)}"
    if kind == "binance":
        fake.partial_every = 0  # liquidity is the fakes' own business here
    return fake


async def place_resting(fake: Any, client_order_id: str, price: float = 50.0) -> None:
    """A resting limit buy on the fake, sent by a ccxt client of its own (the user, or an engine
    whose database lost the row)."""
    import ccxt.async_support as ccxt

    client = getattr(ccxt, fake.exchange_id)({**fake.credentials(), "timeout": 2000})
    fake_base.point_ccxt(client, fake.base_url)
    try:
        await client.create_order(
            "BTC/USDT", "limit", "buy", 0.2, price, {"clientOrderId": client_order_id}
        )
    finally:
        await client.close()


def key_env(fake: Any) -> dict[str, str]:
    """The environment variables a user exports for the fake's key."""
    ex = fake.exchange_id.upper()
    creds = fake.credentials()
    env = {f"OXBOT_{ex}_API_KEY": creds["apiKey"], f"OXBOT_{ex}_SECRET": creds["secret"]}
    if creds.get("password"):
        env[f"OXBOT_{ex}_PASSPHRASE"] = creds["password"]
    return env


def write_settings(home: Path, fake: Any, **exchange: Any) -> Path:
    """``<home>/config/settings.json`` pointing the fake's exchange id at it, as a user points
    oxbot at a testnet or a gateway; ``exchange`` adds keys of that entry."""
    entry: dict[str, Any] = {
        "url": fake.base_url,
        "timeout_ms": 300,
        "poll_s": 0.01,
        "retries": 2,
        "backoff_s": 0.01,
        "backoff_max_s": 0.05,
        "breaker_after": 1000,
        "breaker_cooldown_s": 0.05,
    }
    if fake.exchange_id == "binance":
        entry["options"] = {"recvWindow": 1500}
    else:
        entry["order_window_s"] = 2.0
    entry.update(exchange)
    path = home / "config" / "settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"exchanges": {fake.exchange_id: entry}}, indent=2))
    return path


# ccxt's unified order statuses as the ledger must hold them once settled
SETTLED = {
    "filled": "filled",
    "canceled": "canceled",
    "expired": "canceled",
    "partially_filled": "partially_filled",
    "open": "open",
    "rejected": "rejected",
}


async def ledger_vs_exchange(
    store: Any, fake: Any, bots: Mapping[str, Decimal], listed: Iterable[str] = ()
) -> dict[str, Any]:
    """Where the ledgers of ``bots`` (name -> capital) and the exchange disagree, for accounts
    the bots are the only traders of. ``listed``: client order ids reconciliation listed as
    unknown (sent, never shown by the exchange)."""
    from oxbot.engine.exchange.broker import bot_prefix
    from oxbot.engine.portfolio import Portfolio

    prefixes = {bot_prefix(b): b for b in bots}
    ours = [o for o in fake.orders_view() if o["client_order_id"][:8] in prefixes]
    per_coid = Counter(o["client_order_id"] for o in ours)
    duplicates = sorted(c for c, n in per_coid.items() if n > 1)
    unknown_to_db, wrong_state = [], []
    for o in ours:
        db = await store.get_order(o["client_order_id"])
        if db is None:
            unknown_to_db.append(o["client_order_id"])
        elif db.status.value != SETTLED.get(o["status"], o["status"]):
            wrong_state.append((o["client_order_id"], o["status"], db.status.value))
    on_exchange = {o["client_order_id"] for o in ours}
    listed = set(listed)
    unlisted_unknown, unresolved = [], 0
    for name in bots:
        for db in await store.open_orders(name):
            unresolved += 1
            if db.client_order_id not in on_exchange and db.client_order_id not in listed:
                unlisted_unknown.append((db.client_order_id, db.status.value))
    trade_ids = {
        f"{fake.exchange_id}:{t['trade_id']}"
        for t in fake.trades_view()
        if (t["client_order_id"] or "")[:8] in prefixes
    }
    base = cash = Decimal(0)
    fill_ids: list[str] = []
    for name, capital in bots.items():
        fills = await store.load_fills(name)
        fill_ids += [f.fill_id for f in fills]
        pf = Portfolio.from_fills(capital, fills)
        base += sum((p.qty for p in pf.positions.values()), Decimal(0))
        cash += pf.cash - capital
    start = fake._start_balances
    return {
        "duplicates": duplicates,
        "unknown_to_db": unknown_to_db,
        "wrong_state": wrong_state,
        "unlisted_unknown": unlisted_unknown,
        "missing_fills": sorted(trade_ids - set(fill_ids)),
        "extra_fills": sorted(set(fill_ids) - trade_ids),
        "duplicate_fills": len(fill_ids) - len(set(fill_ids)),
        "position_drift": base - (fake.balances[fake.base_asset] - start[fake.base_asset]),
        "cash_drift": cash - (fake.balances[fake.quote_asset] - start[fake.quote_asset]),
        "exchange_orders": len(ours),
        "fills": len(fill_ids),
        "unresolved_in_db": unresolved,
        "listed_unknown": len(listed),
    }


CLEAN = {
    "duplicates": [],
    "unknown_to_db": [],
    "wrong_state": [],
    "unlisted_unknown": [],
    "missing_fills": [],
    "extra_fills": [],
    "duplicate_fills": 0,
    "position_drift": 0,
    "cash_drift": 0,
}


def disagreements(report: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k in CLEAN and v != CLEAN[k]}
