"""Finding: with an order whose outcome is unknown, a key the exchange starts refusing (revoked,
IP whitelist changed, trading permission removed) makes oxbot look the order up about 20 times a
second, forever: the lookup's AuthError escapes LiveBroker._settle before the watch list
records the lookup, so the order stays "due" and the broker's 50 ms timer wakes the bot again
and again. The README says a rejected key stops the bot at once, and bot.py stops it "instead
of hammering the exchange (and risking a ban)"; Binance bans IPs that keep sending bad
requests (418).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scripted_live import SCRIPTS, live_bot, load_fake, start_live  # noqa: E402

pytestmark = pytest.mark.usefixtures("own_home")  # settings, data and logs of its own

fb = load_fake("fake_binance")


async def test_revoked_key_with_unknown_order_hammers_the_exchange(tmp_path: Path) -> None:
    fake = fb.FakeBinance(stall_s=2.5, late_s=2.0)
    await fake.start()
    SCRIPTS["rk"] = [{"BTC/USDT": "buy"}]
    live = await start_live(
        tmp_path, fake, [live_bot("rk")], settings={"timeout_ms": 1000, "order_window_s": 600}
    )
    try:
        r = live.runner("rk")
        fake.script("late", path="/api/v3/order", method="POST")  # applied after the timeout
        await live.bar("rk", 1_700_000_100_000)
        order = r.broker.watch.orders()[0]
        print("order after the timeout:", order.client_order_id, order.status.value)
        fake.api_key = "revoked-key"  # the user revoked the key (or changed its IP whitelist)
        n0 = len(fake.log)
        # A rate, so a time window: the finding is lookups per second. No later event bounds
        # it (the bug is that the lookups never stop), and the window only has to be long
        # enough for the 50 ms retry timer to fire ~60 times; 3 lookups in 3 s is the budget.
        await asyncio.sleep(3.0)
        lookups = [
            e for e in fake.log[n0:] if e["path"] == "/api/v3/order" and e["method"] == "GET"
        ]
        print(f"lookups in 3 s with a rejected key: {len(lookups)}; bot status {r.status}")
        print("\n".join(live.notices()[-3:]))
        assert len(lookups) <= 3, f"{len(lookups)} lookups in 3 s with a rejected key"
    finally:
        await live.stop()
        await fake.stop()
