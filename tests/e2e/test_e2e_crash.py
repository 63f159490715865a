"""Crash test: an engine trading on sim at max speed is SIGKILLed at random moments, 20 times.

After every restart the database passes `PRAGMA integrity_check`, and the ledger recomputed here
from the fills table alone (Decimal from the TEXT columns) equals, exactly, the positions table
and what the restarted engine reports over its socket (BotView.cash, positions with SL/TP set);
no order is left pending, no fill is counted twice.

Each restart uses --no-resume, so the ledger is quiet while it is compared, and the test starts
the bots again over the socket before the next kill.
"""

from __future__ import annotations

import queue
import random
import time
from decimal import Decimal
from typing import Any

import pytest
from waiting import wait_until

from oxbot.engine.messages import CommandDone, EngineSnapshot, StartBot
from oxbot.remote.client import SocketClient

# on SQLite and on a real PostgreSQL (tests/support/postgres.py): 20 kills, 8 on PostgreSQL
# (CI time: the same invariants after each kill, fewer kills)
pytestmark = [pytest.mark.slow, pytest.mark.both_backends]

KILLS = 20
KILLS_PG = 8
EXTRA_BOT = (
    "e-sma3",
    "--strategy",
    "sma_cross",
    "--param",
    "fast=3",
    "--param",
    "slow=8",
    "--symbols",
    "SOL/USDT,BTC/USDT",
    "--stop-loss-pct",
    "0.2",
    "--take-profit-pct",
    "0.3",
    "--fee",
    "0.002",
)


def check_restarted(home: Any, ledger_of: Any, snap: EngineSnapshot, where: str) -> int:
    """Every invariant after a restart; returns the number of fills so far."""
    if home.sqlite:  # SQLite's page check (a PostgreSQL server keeps its own)
        assert home.query("PRAGMA integrity_check") == [("ok",)], where
    dup = home.query("SELECT fill_id FROM fills GROUP BY fill_id HAVING COUNT(*) > 1")
    assert dup == [], f"{where}: fill ids counted twice: {dup}"
    multi = home.query(
        "SELECT client_order_id FROM fills GROUP BY client_order_id HAVING COUNT(*) > 1"
    )
    assert multi == [], f"{where}: orders with more than one fill: {multi}"
    orphans = home.query(
        "SELECT COUNT(*) FROM fills f LEFT JOIN orders o "
        "ON o.client_order_id = f.client_order_id "
        "WHERE o.client_order_id IS NULL"
    )
    assert orphans == [(0,)], where
    pending = home.query(
        "SELECT client_order_id, status FROM orders "
        "WHERE status NOT IN ('filled', 'canceled', 'rejected')"
    )
    assert pending == [], f"{where}: orders still open on a paper engine: {pending}"
    unfilled = home.query(
        "SELECT COUNT(*) FROM orders o WHERE o.status = 'filled' AND NOT "
        "EXISTS (SELECT 1 FROM fills f "
        "WHERE f.client_order_id = o.client_order_id)"
    )
    assert unfilled == [(0,)], f"{where}: orders marked filled without a fill"

    books = ledger_of(home)
    views = {b.name: b for b in snap.bots}
    assert views.keys() == books.keys(), where
    for name, book in books.items():
        rows = home.query(
            f"SELECT symbol, qty, stop_loss, take_profit FROM positions "
            f"WHERE bot_id = {book['id']} AND CAST(qty AS REAL) != 0"
        )
        table = {symbol: Decimal(qty) for symbol, qty, _, _ in rows}
        assert table == book["qty"], f"{where}: {name} positions table != fills ledger"
        for symbol, _, sl, tp in rows:
            assert sl is not None and tp is not None, f"{where}: {name} {symbol} has no SL/TP"
        assert views[name].cash == book["cash"], (
            f"{where}: {name} engine cash {views[name].cash} != ledger {book['cash']}"
        )
        shown = {p.symbol: p.qty for p in snap.positions if p.bot == name and p.qty}
        assert shown == book["qty"], f"{where}: {name} engine positions != ledger"
        assert all(
            p.stop_loss is not None and p.take_profit is not None
            for p in snap.positions
            if p.bot == name
        ), where
    return home.query("SELECT COUNT(*) FROM fills")[0][0]


def attach(home: Any) -> tuple[SocketClient, queue.Queue[Any], EngineSnapshot]:
    events: queue.Queue[Any] = queue.Queue()
    client = SocketClient(home.socket)
    client.start(events.put)
    first = events.get(timeout=10)
    assert isinstance(first, EngineSnapshot), first
    return client, events, first


def start_all(client: SocketClient, events: queue.Queue[Any], names: list[str]) -> None:
    pending = set()
    for name in names:
        cmd = StartBot(request_id=f"start-{name}", name=name)
        pending.add(cmd.request_id)
        client.submit(cmd)

    def all_done() -> bool:
        while pending:
            try:
                ev = events.get_nowait()
            except queue.Empty:
                return False
            if isinstance(ev, CommandDone) and ev.request_id in pending:
                assert ev.ok, ev.message
                pending.discard(ev.request_id)
        return True

    wait_until(all_done, 10, "every StartBot answered", detail=lambda: f"pending: {pending}")


def test_sigkill_at_random_moments_keeps_the_ledger_exact(home, fast_bots, ledger_of):
    kills = KILLS if home.sqlite else KILLS_PG
    rng = random.Random()
    seed = rng.randrange(1 << 30)
    rng.seed(seed)
    for bot in (*fast_bots, EXTRA_BOT):
        home.add_bot(*bot)
    names = [b[0] for b in (*fast_bots, EXTRA_BOT)]
    fills = 0
    open_at_kill = 0
    for kill in range(kills + 1):
        engine = home.spawn(
            "run", "--headless", "--sim-speed", "max", "--no-resume", "--status-every", "60"
        )
        engine.wait_ready()
        client, events, snap = attach(home)
        try:
            now = check_restarted(home, ledger_of, snap, f"seed {seed}, after kill {kill}")
            assert now >= fills, f"seed {seed}: fills lost after kill {kill}"
            fills = now
            if kill == kills:
                break
            start_all(client, events, names)
            time.sleep(rng.uniform(0.0, 1.0))
            engine.proc.kill()  # SIGKILL: no cleanup of any kind
            engine.proc.wait(5)
            open_at_kill += bool(
                home.query("SELECT COUNT(*) FROM positions WHERE CAST(qty AS REAL) != 0")[0][0]
            )
        finally:
            client.stop(timeout=2)
        engine.kill()  # closes its log file
        assert "Traceback" not in engine.text()
    code, _ = engine.terminate()
    assert code == 0
    assert fills > 100, f"only {fills} fills in {kills} runs: the bots did not trade enough"
    assert open_at_kill >= 3, "too few kills with open positions to prove anything"
