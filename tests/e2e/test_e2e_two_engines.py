"""Issue 16's crash test for several engines: two `oxbot run --headless` processes share one real
PostgreSQL database (tests/support/postgres.py), bots split between them; engine A is killed
with SIGKILL mid-run; engine B takes A's bots over within the lease ttl, restores them from the
ledger and trades on; after B stops cleanly the ledger has 0 drift (cash and positions of every
bot = what its fills say, as a restarted engine shows them), no fill was written twice, and A
wrote nothing of its bots after B's first write of them."""

from __future__ import annotations

import json
import queue
import shutil
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from waiting import wait_until

from oxbot.engine.messages import AddBot, CommandDone, EngineSnapshot
from oxbot.engine.models import BotConfig
from oxbot.remote.client import SocketClient

TTL = 3  # s: --lease-ttl of both engines (renewals every second)
A_BOTS = ("a1", "a2", "a3")
B_BOTS = ("b1", "b2", "b3")


Home = Any  # tests/e2e/conftest.py's Home


@pytest.fixture
def homes(home: Home) -> Any:
    """Two homes (two control sockets, as on two hosts) on one PostgreSQL database."""
    root = Path(tempfile.mkdtemp(prefix="oxe2e-", dir="/tmp"))
    other = type(home)(root, str(home.db))
    try:
        yield home, other
    finally:
        other.close()
        shutil.rmtree(root, ignore_errors=True)


def attach(home: Home) -> tuple[SocketClient, queue.Queue[Any], EngineSnapshot]:
    events: queue.Queue[Any] = queue.Queue()
    client = SocketClient(home.socket)
    client.start(events.put)
    first = events.get(timeout=10)
    assert isinstance(first, EngineSnapshot), first
    return client, events, first


def add_and_start(home: Home, names: tuple[str, ...]) -> None:
    """AddBot(start=True) of each bot through the engine's control socket (what `oxbot bots
    add` does when an engine runs, without a process per bot)."""
    client, events, _ = attach(home)
    try:
        for name in names:
            config = BotConfig(
                name=name,
                strategy="sma_cross",
                params={"fast": 2, "slow": 5},
                symbols=["BTC/USDT"],
                risk={"stop_loss_pct": "0.3", "take_profit_pct": "0.5"},
            )
            client.submit(AddBot(request_id=f"add-{name}", config=config, start=True))
        pending = {f"add-{n}" for n in names}
        while pending:
            ev = events.get(timeout=20)
            if isinstance(ev, CommandDone) and ev.request_id in pending:
                assert ev.ok, ev.message
                pending.discard(ev.request_id)
    finally:
        client.stop(timeout=2)


def fills(home: Home, names: tuple[str, ...]) -> list[tuple[Any, ...]]:
    """(bot, seq, engine id of the order) of every fill of ``names``, in insertion order."""
    listed = ", ".join(f"'{n}'" for n in names)
    return home.query(
        "SELECT b.name, f.seq, o.engine_id FROM fills f "
        "JOIN orders o USING (client_order_id) JOIN bots b ON b.id = f.bot_id "
        f"WHERE b.name IN ({listed}) ORDER BY f.seq"
    )


def run(home: Home, name: str) -> Any:
    engine = home.spawn(
        "run", "--headless", "--sim-speed", "1200", "--engine-name", name, "--lease-ttl", str(TTL)
    )
    engine.wait_ready()
    return engine


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_killed_engines_bots_are_taken_over_by_the_other_with_0_drift(homes, ledger_of):
    home_a, home_b = homes
    a = run(home_a, "A")
    # as if A ran on another host: B cannot see that A's process is gone (on one host it
    # would, and take A's bots at once); it has to wait for A's leases to expire
    home_a.query("UPDATE engines SET host = 'host-of-a' WHERE name = 'A'")
    add_and_start(home_a, A_BOTS)
    b = run(home_b, "B")
    assert b.status()["bots_elsewhere"] == "a1@A, a2@A, a3@A"
    add_and_start(home_b, B_BOTS)  # through B's control socket
    a_id, b_id = a.status()["engine_id"], b.status()["engine_id"]

    def listed_by_a() -> dict[str, str]:  # `oxbot bots list` through A's engine
        lines = home_a.ok("bots", "list").splitlines()[1:]
        return {ln.split()[0]: ln for ln in lines if ln.strip()}

    # bots B runs are said to run on B, not "stopped" with A's frozen figures (adversary F2)
    wait_until(
        lambda: all("running on B" in listed_by_a().get(n, "") for n in B_BOTS),
        TTL + 5,
        "A lists b1..b3 as running on B",
        detail=lambda: str(listed_by_a()),
    )
    mine = listed_by_a()
    assert all(" on " not in mine[n] for n in A_BOTS), mine
    wait_until(
        lambda: {r[0] for r in fills(home_a, A_BOTS + B_BOTS)} == set(A_BOTS + B_BOTS),
        30,
        "every bot traded on its engine",
    )

    a.proc.kill()  # SIGKILL mid-run: its leases are left to expire
    a.proc.wait(5)
    killed = time.monotonic()
    wait_until(
        lambda: b.status()["bots_running"] == 6,
        TTL + TTL / 3 + 5,
        "B runs a1..a3 too",
        detail=lambda: str(b.status()),
    )
    took = time.monotonic() - killed
    assert took >= TTL - 1.1  # A renewed at most a renewal period (ttl/3) before the kill
    assert "bots_elsewhere" not in b.status()
    # A's home has no engine now: the live leases say who runs each bot
    after = listed_by_a()
    assert all("running on B" in after[n] for n in A_BOTS + B_BOTS), after
    listed = json.loads(home_b.ok("status", "--json"))
    engines = {e["name"]: e for e in listed["engines"]}
    assert engines["B"]["alive"] and engines["B"]["bots"] == sorted(A_BOTS + B_BOTS)
    assert not engines["A"]["alive"] and not engines["A"]["stopped"] and not engines["A"]["bots"]
    assert engines["A"]["host"] == "host-of-a" and engines["A"]["heartbeat_age_s"] >= TTL - 1
    wait_until(
        lambda: any(r[2] == b_id for r in fills(home_b, A_BOTS)),
        30,
        "B traded a bot of A after the takeover",
    )
    code, _ = b.terminate(10)
    assert code == 0
    log = b.text()
    assert "Traceback" not in log and "Traceback" not in a.text()
    assert "taken over from engine A" in log

    # A wrote nothing of its bots after B's first write of them; B wrote all of b1..b3
    rows = fills(home_b, A_BOTS + B_BOTS)
    for name in A_BOTS:
        owners = [r[2] for r in rows if r[0] == name]
        assert set(owners) <= {a_id, b_id} and owners[0] == a_id, (name, owners)
        if b_id in owners:
            assert a_id not in owners[owners.index(b_id) :], (name, owners)
    assert {r[2] for r in rows if r[0] in B_BOTS} == {b_id}
    epochs = dict(
        home_b.query("SELECT b.name, l.epoch FROM bot_leases l JOIN bots b ON b.id = l.bot_id")
    )
    assert epochs == {**dict.fromkeys(A_BOTS, 2), **dict.fromkeys(B_BOTS, 1)}
    engines = home_b.query("SELECT name, stopped_ms IS NOT NULL FROM engines ORDER BY name")
    assert engines == [("A", False), ("B", True)]  # A never said it stopped: it was killed
    dup = home_b.query("SELECT fill_id FROM fills GROUP BY fill_id HAVING COUNT(*) > 1")
    assert dup == []
    multi = home_b.query(
        "SELECT client_order_id FROM fills GROUP BY client_order_id HAVING COUNT(*) > 1"
    )
    assert multi == []

    # 0 drift: a restarted engine shows every bot's cash and positions as its fills say
    check = home_b.spawn("run", "--headless", "--no-resume", "--engine-name", "check")
    check.wait_ready()
    client, _, snap = attach(home_b)
    client.stop(timeout=2)
    check.terminate(10)
    books = ledger_of(home_b)
    views = {v.name: v for v in snap.bots}
    assert views.keys() == books.keys() == set(A_BOTS + B_BOTS)
    for name, book in books.items():
        held = home_b.query(f"SELECT symbol, qty FROM positions WHERE bot_id = {book['id']}")
        table = {s: Decimal(q) for s, q in held if Decimal(q)}
        assert table == book["qty"], f"{name}: positions table != fills"
        assert views[name].cash == book["cash"], f"{name}: cash {views[name].cash} != fills"
        shown = {p.symbol: p.qty for p in snap.positions if p.bot == name and p.qty}
        assert shown == book["qty"], f"{name}: engine positions != fills"
    print(f"takeover after {took:.1f} s (ttl {TTL} s)")
