"""Finding: on start, the account check compares the exchange's balance with what the bots held
BEFORE the orders settled at that same start were booked (LiveBroker.start runs _settle, then
_reconcile/AccountBook.check, and only after start returns does Engine._prepare record the
settled executions in the bot's ledger).

Scenario: a LIVE bot holds BTC and sends its exit; the reply times out (outcome unknown); the
engine is stopped (or killed) before the lookup; the exchange had applied the sell. On restart
the sell is found filled and booked, but the check has already published a "balance"
difference: "the bots hold 14.98 BTC but the account only 0: 14.98 BTC is missing (sold outside
oxbot, or a fill the ledger should not have)", listed for reconciliation, though ledger and
account agree a moment later. (The same ordering tells the user "X BTC is your own, not traded
by oxbot" for coins a settled buy just brought to the bot.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scripted_live import SCRIPTS, live_bot, load_fake, start_live  # noqa: E402

pytestmark = pytest.mark.usefixtures("own_home")  # settings, data and logs of its own

from oxbot.engine.messages import ReconcileFound  # noqa: E402

fb = load_fake("fake_binance")


async def test_restart_after_unknown_exit_lists_a_false_balance_difference(tmp_path: Path) -> None:
    fake = fb.FakeBinance(stall_s=3.0, late_s=2.5)
    await fake.start()
    SCRIPTS["rs"] = [{"BTC/USDT": "buy"}, {"BTC/USDT": "close"}]
    live = await start_live(tmp_path, fake, [live_bot("rs")], settings={"timeout_ms": 1000})
    try:
        await live.bar("rs", 1_700_000_100_000)  # buy, filled
        fake.script("late", path="/api/v3/order", method="POST")
        await live.bar("rs", 1_700_000_160_000)  # sell: applied by the exchange, reply lost
    finally:
        await live.stop()  # stopped before the order was looked up
    await fake.settle()
    print("exchange BTC after the sell:", fake.balances["BTC"])
    SCRIPTS["rs"] = [{}] * 10
    live = await start_live(tmp_path, fake, [], db=tmp_path / "oxbot.db")
    try:
        r = live.runner("rs")
        items = [i for e in live.events if isinstance(e, ReconcileFound) for i in e.items]
        print("ledger after restart:", r.portfolio.position("BTC/USDT"))
        print("\n".join(live.notices()))
        print("reconciliation items:", [(i.kind, i.detail) for i in items])
        print("still pending:", r.broker.reconcile_items())
        assert r.portfolio.position("BTC/USDT").qty == fake.balances["BTC"]  # booked; dust left
        assert not [i for i in items if i.kind == "balance"], (
            "a balance difference was listed although ledger and account agree"
        )
    finally:
        await live.stop()
        await fake.stop()
