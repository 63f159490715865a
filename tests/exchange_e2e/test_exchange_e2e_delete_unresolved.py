"""Finding: deleting a LIVE bot while one of its orders is unresolved (sent, outcome unknown)
is accepted without a word, and the order is never looked up again: the exchange fills it
later, and no ledger, notice or reconciliation item ever says so (nor after a restart: a
deleted bot is not loaded). The README: "Not found is not proof that nothing was placed ...
never silently marked rejected"; here it is silently dropped.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scripted_live import SCRIPTS, live_bot, load_fake, start_live, wait_stored  # noqa: E402

pytestmark = pytest.mark.usefixtures("own_home")  # settings, data and logs of its own

from oxbot.engine.messages import DeleteBot, ReconcileFound  # noqa: E402

fb = load_fake("fake_binance")


async def test_delete_bot_with_unknown_order(tmp_path: Path) -> None:
    fake = fb.FakeBinance(stall_s=2.5, late_s=2.0)
    await fake.start()
    SCRIPTS["del"] = [{"BTC/USDT": "buy"}]
    live = await start_live(tmp_path, fake, [live_bot("del")], settings={"timeout_ms": 1000})
    try:
        r = live.runner("del")
        fake.script("late", path="/api/v3/order", method="POST")  # applied after the timeout
        await live.bar("del", 1_700_000_100_000)
        coid = r.broker.watch.orders()[0].client_order_id
        print("order", coid, r.broker.watch.orders()[0].status.value)
        done = await live.command(DeleteBot(name="del"))
        print("delete:", done.ok, done.message)
        await fake.settle()  # the exchange has applied the order
        # Still followed, the order reaches its end in the database (or leaves it with the
        # bot, or reconciliation lists it); dropped, it stays unresolved: the wait times out
        # and the assert below says why.
        stored = await wait_stored(
            live,
            coid,
            lambda o: (
                o is None
                or o.status.terminal
                or any(isinstance(e, ReconcileFound) and e.items for e in live.events)
            ),
        )
        print(
            "exchange:",
            [(o.client_order_id, o.status, str(o.executed)) for o in fake.orders.values()],
        )
        print("stored order:", stored.status.value if stored else None)
        print("\n".join(live.notices()))
        recon = [e for e in live.events if isinstance(e, ReconcileFound) and e.items]
        # Expected: the delete is refused (or the order is still followed, or at least listed).
        assert not done.ok or stored is None or stored.status.terminal or recon, (
            "bot deleted with an unresolved order that then filled; nothing says so"
        )
    finally:
        await live.stop()
        await fake.stop()
