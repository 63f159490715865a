"""A fake exchange with the REAL ccxt client of its dialect pointed at it: what the dialect and
fault tests share. Loaded by path (pytest's importlib mode)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt.async_support as ccxt
from module_loading import load_by_path

_HERE = Path(__file__).parent
fake_binance = load_by_path("_oxbot_exchange_tests_fake_binance", _HERE / "fake_binance.py")
fake_okx = load_by_path("_oxbot_exchange_tests_fake_okx", _HERE / "fake_okx.py")
fake_base = fake_binance.base
T0 = 1_700_000_000_000
SYMBOL = "BTC/USDT"

# The endpoints each dialect's ccxt client calls, by role (read in binance.py / okx.py).
PATHS = {
    "binance": {
        "create": "/api/v3/order",
        "order": "/api/v3/order",
        "cancel": "/api/v3/order",
        "ticker": "/api/v3/ticker/24hr",
        "trades": "/api/v3/myTrades",
        "balance": "/api/v3/account",
    },
    "okx": {
        "create": "/api/v5/trade/batch-orders",
        "order": "/api/v5/trade/order",
        "cancel": "/api/v5/trade/cancel-order",
        "ticker": "/api/v5/market/ticker",
        "trades": "/api/v5/trade/fills-history",
        "balance": "/api/v5/account/balance",
    },
}


@dataclass
class Venue:
    kind: str
    fake: Any
    client: Any

    def path(self, role: str) -> str:
        return PATHS[self.kind][role]

    def method(self, role: str) -> str:
        if role in ("create",) or (role == "cancel" and self.kind == "okx"):
            return "POST"
        return "DELETE" if role == "cancel" else "GET"

    def sent(self, role: str) -> list[Any]:
        """Params of every request the fake received for ``role``."""
        return [
            e["params"]
            for e in self.fake.log
            if e["path"] == self.path(role) and e["method"] == self.method(role)
        ]


def new_fake(kind: str, **kw: Any) -> Any:
    cls = fake_binance.FakeBinance if kind == "binance" else fake_okx.FakeOkx
    return cls(klines=fake_base.generated_klines(T0 - 300 * 60_000, 300), **kw)


def new_client(
    kind: str,
    fake: Any,
    creds: dict[str, str] | None = None,
    timeout_ms: int = 2000,
    sandbox: bool = False,
) -> Any:
    client = getattr(ccxt, kind)(
        {**(creds or fake.credentials()), "timeout": timeout_ms, "enableRateLimit": False}
    )
    if sandbox:
        client.set_sandbox_mode(True)  # before pointing: it swaps urls['api'] (see point_ccxt)
    fake_base.point_ccxt(client, fake.base_url)
    return client


async def open_venue(kind: str, timeout_ms: int = 2000, **kw: Any) -> Venue:
    fake = new_fake(kind, **kw)
    await fake.start()
    client = new_client(kind, fake, timeout_ms=timeout_ms)
    await client.load_markets()
    return Venue(kind, fake, client)


async def close_venue(v: Venue) -> None:
    await v.client.close()
    await v.fake.stop()


def dec(x: Any) -> Decimal:
    """ccxt's floats, compared exactly through their shortest repr."""
    return Decimal(str(x))
