"""Issue 16's crash test for several engines with LIVE bots: two `oxbot run --headless` processes
(two homes, as on two hosts) share one real PostgreSQL database (tests/support/postgres.py).
Engine A runs the LIVE bots a1, a2 against the fake Binance (the real ccxt client, pointed at it
by settings.json); engine B runs b1, b2. A is SIGKILLed while the exchange HOLDS one of its order
requests (in flight: applied after A is gone). After A's leases expire, B takes a1 and a2 over:
rebuilt from the ledger, the order in flight settled with the exchange, then trading on. B is
stopped cleanly (SIGTERM). Against the exchange: 0 duplicate orders, 0 orders unknown to the
database, every order's state and fills equal, each LIVE bot's cash and position equal to what
the exchange moved for it (0 drift); A wrote nothing of its bots after B's claim (fills, epochs).

b1, b2 are PAPER bots on the sim market: a LIVE bot of B's on the same key would need the key's
OS lock, which A holds on this one host (engine/exchange/lock.py: one engine per key per OS
user); on two hosts each would hold its own. Once A is dead the OS has dropped its lock and B
takes it for a1, a2 (the path this test is about).

The second test: a takeover refused once (A frozen, still holding the key) is tried again when
A is gone, instead of leaving the bot running nowhere."""

from __future__ import annotations

import asyncio
import queue
import re
import shutil
import signal
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from module_loading import load_by_path
from postgres import raw_rows

from oxbot.engine.messages import AddBot, CommandDone, EngineSnapshot
from oxbot.engine.models import BotConfig
from oxbot.remote.client import SocketClient

_E2E = load_by_path(
    "_oxbot_e2e_conftest_homes", Path(__file__).parent.parent / "e2e" / "conftest.py"
)
TTL = 3  # s: --lease-ttl of both engines (renewals every second)
A_BOTS = ("a1", "a2")
ONE = ("a1",)  # the retry test: one bot is enough (each `bots add` is a process)
B_BOTS = ("b1", "b2")
CAPITAL = Decimal("10000")  # `oxbot bots add`'s default capital
CREATE = ("POST", "/api/v3/order")  # Binance's new-order endpoint (fake_binance.py)


def add_live(home: Any, name: str) -> None:
    """A LIVE bot stored running, added the way a user adds one (no engine runs yet)."""
    home.ok(
        "bots",
        "add",
        name,
        "--exchange",
        "binance",
        "--symbols",
        "BTC/USDT",
        "--strategy",
        "sma_cross",
        "--param",
        "fast=2",
        "--param",
        "slow=3",
        "--live",
        "--yes-i-mean-live",
        "--start",
    )


def add_paper(home: Any, names: tuple[str, ...]) -> None:
    """AddBot(start=True) of PAPER bots through the engine's control socket."""
    events: queue.Queue[Any] = queue.Queue()
    client = SocketClient(home.socket)
    client.start(events.put)
    try:
        assert isinstance(events.get(timeout=10), EngineSnapshot)
        for name in names:
            config = BotConfig(
                name=name,
                strategy="sma_cross",
                params={"fast": 2, "slow": 5},
                symbols=["BTC/USDT"],
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


async def fills(url: str, names: tuple[str, ...]) -> list[tuple[Any, ...]]:
    """(bot, client order id, engine id that last wrote the order) of every fill of ``names``,
    in insertion order."""
    listed = ", ".join(f"'{n}'" for n in names)
    return await raw_rows(
        url,
        "SELECT b.name, f.client_order_id, o.engine_id FROM fills f "
        "JOIN orders o USING (client_order_id) JOIN bots b ON b.id = f.bot_id "
        f"WHERE b.name IN ({listed}) ORDER BY f.seq",
    )


async def until(
    check: Callable[[], Awaitable[bool]],
    timeout: float,
    what: str,
    engines: tuple[Any, ...],
    every: float = 0.1,
) -> None:
    """Wait until ``await check()``; fail at once when an engine exited, with its log."""
    end = time.monotonic() + timeout
    while not await check():
        for e in engines:
            assert e.proc.poll() is None, (
                f"engine exited ({e.proc.returncode}):\n{e.text()[-3000:]}"
            )
        if time.monotonic() > end:
            tails = "\n---\n".join(e.text()[-2000:] for e in engines)
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}\n{tails}")
        await asyncio.sleep(every)


def moved_for(fake: Any, name: str) -> tuple[Decimal, Decimal]:
    """(coin, cash) the exchange moved for the bot's orders: every trade of an order whose
    client id carries the bot's prefix, fee included (charged in USDT: ClockedFake's
    ``fee_mode="quote"``, e2e_support.py)."""
    from oxbot.engine.exchange.broker import bot_prefix

    prefix = bot_prefix(name)
    coin = cash = Decimal(0)
    for t in fake.trades_view():
        if (t["client_order_id"] or "")[:8] != prefix:
            continue
        sign = 1 if t["side"] == "buy" else -1
        assert t["fee_currency"] == fake.quote_asset, t
        coin += sign * t["amount"]
        cash -= sign * t["amount"] * t["price"] + t["fee"]
    return coin, cash


@pytest.fixture
def roots() -> Iterator[list[Path]]:
    """Two homes' folders (two control sockets, as on two hosts), short paths under /tmp
    (Unix socket paths must stay under ~100 bytes)."""
    made = [Path(tempfile.mkdtemp(prefix="oxlive-", dir="/tmp")) for _ in range(2)]
    yield made
    for root in made:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow  # ~30 s: two engine processes, a lease ttl, a processing window
async def test_live_bots_of_a_killed_engine_are_settled_and_traded_on_by_the_other(
    camp: Any, pg_url: str, roots: list[Path], record_property: Any
) -> None:
    from oxbot.engine.portfolio import Portfolio
    from oxbot.storage.store import Store

    wall = time.monotonic()
    # late_s 0.5 > the client's timeout (0.3 s, campaign.write_settings): a create held "late"
    # is applied by the exchange after the client gave up (fake_base.py, faults table)
    fake = camp.clocked(
        "binance",
        speed=1200,
        stall_s=0.6,
        late_s=0.5,
        balances={"USDT": Decimal("1000000"), "BTC": Decimal("0")},
    )
    fake.retry_after_s = 0
    await fake.start()
    home_a, home_b = (_E2E.Home(root, pg_url) for root in roots)
    for home in (home_a, home_b):
        camp.write_settings(home.root, fake, stale_after_s=30)
        home.env.update(camp.key_env(fake))
    try:
        for name in A_BOTS:
            await asyncio.to_thread(add_live, home_a, name)
        a = home_a.spawn("run", "--headless", "--engine-name", "A", "--lease-ttl", str(TTL))
        await asyncio.to_thread(a.wait_ready, 30)
        # as if A ran on another host: B cannot see that A's process is gone (storage/leases.py
        # `claim`: a dead holder of THIS host is taken at once); it waits for the leases' ttl
        await raw_rows(pg_url, "UPDATE engines SET host = 'host-of-a' WHERE name = 'A'")
        b = home_b.spawn(
            "run",
            "--headless",
            "--sim-speed",
            "1200",
            "--engine-name",
            "B",
            "--lease-ttl",
            str(TTL),
        )
        await asyncio.to_thread(b.wait_ready, 30)
        assert (await asyncio.to_thread(b.status))["bots_elsewhere"] == "a1@A, a2@A"
        await asyncio.to_thread(add_paper, home_b, B_BOTS)
        a_id = (await asyncio.to_thread(a.status))["engine_id"]
        b_id = (await asyncio.to_thread(b.status))["engine_id"]

        async def all_traded() -> bool:
            return {r[0] for r in await fills(pg_url, A_BOTS + B_BOTS)} == set(A_BOTS + B_BOTS)

        await until(all_traded, 30, "every bot traded on its engine", (a, b))

        # The next new order is held by the exchange ("late": applied 0.5 s after it arrived);
        # A is killed while it is held: no answer ever reached it.
        seen = len(fake.log)
        fake.script("late", method=CREATE[0], path=CREATE[1])
        held: list[dict[str, Any]] = []

        async def sent() -> bool:
            held[:] = [
                e for e in fake.log[seen:] if (e["method"], e["path"]) == CREATE and e["fault"]
            ]
            return bool(held)

        await until(sent, 30, "an order of A held by the exchange", (a, b), every=0.005)
        assert fake.pending_late() == 1  # still held (no await since it arrived): in flight
        a.proc.kill()
        await asyncio.to_thread(a.proc.wait, 5)
        killed = time.monotonic()
        # every fill written from now on is B's (A is dead)
        top = (await raw_rows(pg_url, "SELECT COALESCE(MAX(seq), 0) FROM fills"))[0][0]
        in_flight = held[0]["params"]["newClientOrderId"]

        async def took_over() -> bool:
            return (await asyncio.to_thread(b.status))["bots_running"] == 4

        await until(took_over, TTL + TTL / 3 + 10, "B runs a1, a2 too", (b,))
        took = time.monotonic() - killed
        assert took >= TTL - 1.1  # A renewed at most a renewal period (ttl/3) before the kill

        async def traded_on() -> bool:
            rows = await fills(pg_url, A_BOTS)
            on_b = {r[0] for r in rows if r[2] == b_id and r[1] != in_flight}
            return on_b == set(A_BOTS)

        await until(traded_on, 30, "B traded a1 and a2 after the takeover", (b,))
        code, _ = await asyncio.to_thread(b.terminate, 15)
        assert code == 0
        await fake.settle()
    finally:
        for home in (home_a, home_b):
            await asyncio.to_thread(home.close)
        await fake.stop()

    log_a, log_b = a.text(), b.text()
    assert "Traceback" not in log_a and "Traceback" not in log_b, log_b[-3000:]
    assert "taken over from engine A" in log_b
    settled = [
        int(n) for n in re.findall(r"(\d+) order\(s\) left unresolved by the last run", log_b)
    ]
    assert sum(settled) >= 1, log_b[-3000:]  # the order in flight, settled by B
    listed = set(re.findall(r"unknown: order (\w+) .*listed for reconciliation", log_b))
    for log in (log_a, log_b):  # no other difference with the exchange (a balance, a ghost)
        kinds = re.findall(r"oxbot\.live: \w+: (\w+): .*listed for reconciliation", log)
        assert set(kinds) <= {"unknown"}, log[-3000:]

    store = await Store.open(pg_url, writer=False)
    try:
        report = await camp.ledger_vs_exchange(store, fake, dict.fromkeys(A_BOTS, CAPITAL), listed)
        order = await store.get_order(in_flight)
        assert order is not None and order.status.value == "filled", order
        drift: dict[str, tuple[Decimal, Decimal]] = {}
        unresolved: list[str] = []
        for name in A_BOTS:  # per bot: ledger = what the exchange moved for its orders
            pf = Portfolio.from_fills(CAPITAL, await store.load_fills(name))
            coin, cash = moved_for(fake, name)
            held_qty = sum((p.qty for p in pf.positions.values()), Decimal(0))
            drift[name] = (held_qty - coin, pf.cash - CAPITAL - cash)
            unresolved += [o.client_order_id for o in await store.open_orders(name)]
    finally:
        await store.close()
    assert camp.disagreements(report) == {}, report
    assert drift == dict.fromkeys(A_BOTS, (Decimal(0), Decimal(0))), drift
    # An order still unresolved is one whose intent A wrote (intent before any I/O: live.py)
    # and was killed before sending: the exchange never saw it, B listed it for reconciliation
    # after its processing window (live.py) and traded on (lifecycle.py `blocking`: an overdue
    # order no longer blocks its symbol).
    sent = {
        e["params"].get("newClientOrderId") for e in fake.log if (e["method"], e["path"]) == CREATE
    }
    assert set(unresolved) == listed and not listed & sent, (unresolved, listed)
    assert fake.audit() == {}

    # the order in flight: its intent written by A, its outcome and fills by B
    rows = await fills(pg_url, A_BOTS + B_BOTS)
    assert {r[2] for r in rows if r[1] == in_flight} == {a_id}  # orders.engine_id: the intent's
    late = await raw_rows(pg_url, f"SELECT seq FROM fills WHERE client_order_id = '{in_flight}'")
    assert late and all(seq > top for (seq,) in late), (late, top)  # its fills: written by B
    # A wrote nothing of its bots after B's first write of them; b1, b2 are B's alone
    for name in A_BOTS:
        owners = [r[2] for r in rows if r[0] == name]
        assert set(owners) <= {a_id, b_id} and owners[0] == a_id, (name, owners)
        assert a_id not in owners[owners.index(b_id) :], (name, owners)
    assert {r[2] for r in rows if r[0] in B_BOTS} == {b_id}
    orders = await raw_rows(
        pg_url,
        "SELECT b.name, o.engine_id FROM orders o JOIN bots b ON b.id = o.bot_id",
    )
    assert {e for n, e in orders if n in B_BOTS} <= {b_id}
    epochs = dict(
        await raw_rows(
            pg_url, "SELECT b.name, l.epoch FROM bot_leases l JOIN bots b ON b.id = l.bot_id"
        )
    )
    assert epochs == {**dict.fromkeys(A_BOTS, 2), **dict.fromkeys(B_BOTS, 1)}
    engines = await raw_rows(
        pg_url, "SELECT name, stopped_ms IS NOT NULL FROM engines ORDER BY name"
    )
    assert engines == [("A", False), ("B", True)]  # A never said it stopped: it was killed

    seconds = time.monotonic() - wall
    total = sum((abs(c) + abs(q) for c, q in drift.values()), Decimal(0))
    line = (
        f"binance, 2 engines on PostgreSQL, A SIGKILLed with order {in_flight} in flight: "
        f"takeover after {took:.1f} s (ttl {TTL} s); {report['exchange_orders']} exchange orders, "
        f"{report['fills']} fills, {sum(settled)} settled by B at the takeover, {len(listed)} "
        f"intent(s) A never sent listed as unknown; drift {'0' if not total else total}; "
        f"disagreements {len(camp.disagreements(report))}; wall {seconds:.1f} s"
    )
    record_property("figures", line)
    print("\n" + line)


@pytest.mark.slow  # ~20 s: two engine processes, two lease ttls
async def test_a_takeover_that_failed_is_tried_again(
    camp: Any, pg_url: str, roots: list[Path]
) -> None:
    """A is frozen (SIGSTOP: a paused VM, a swap storm) past its ttl: B claims a1 but cannot
    trade them, A still holds the key's OS lock on this host (engine/exchange/lock.py; on two
    hosts it would be another failure: the keyring locked, the database away a moment). Then
    A dies. B tries the takeover again (engine/leasing.py TakeoverRetries) and runs it: it was
    not left running nowhere."""
    from oxbot.engine.portfolio import Portfolio
    from oxbot.storage.store import Store

    fake = camp.clocked("binance", speed=1200, stall_s=0.6, late_s=0.5)
    fake.balances.update({"USDT": Decimal("1000000"), "BTC": Decimal("0")})
    fake.retry_after_s = 0
    await fake.start()
    home_a, home_b = (_E2E.Home(root, pg_url) for root in roots)
    for home in (home_a, home_b):
        camp.write_settings(home.root, fake, stale_after_s=30)
        home.env.update(camp.key_env(fake))
    try:
        for name in ONE:
            await asyncio.to_thread(add_live, home_a, name)
        a = home_a.spawn("run", "--headless", "--engine-name", "A", "--lease-ttl", str(TTL))
        await asyncio.to_thread(a.wait_ready, 30)
        await raw_rows(pg_url, "UPDATE engines SET host = 'host-of-a' WHERE name = 'A'")
        b = home_b.spawn("run", "--headless", "--engine-name", "B", "--lease-ttl", str(TTL))
        await asyncio.to_thread(b.wait_ready, 30)
        b_id = (await asyncio.to_thread(b.status))["engine_id"]

        async def traded() -> bool:
            return {r[0] for r in await fills(pg_url, ONE)} == set(ONE)

        await until(traded, 30, "a1 traded on A", (a, b))
        a.proc.send_signal(signal.SIGSTOP)

        async def refused() -> bool:
            return all(f"bot {n} not taken over: another oxbot engine" in b.text() for n in ONE)

        # frozen inside a write transaction, A holds the lease row's lock too: B's claim waits
        # until the server ends A's session (storage/pg.py IDLE_IN_TRANSACTION, 5 s)
        await until(refused, TTL * 3 + 5, "B's takeover refused: A holds the key", (b,))
        a.proc.kill()
        await asyncio.to_thread(a.proc.wait, 5)

        async def took_over() -> bool:
            return (await asyncio.to_thread(b.status))["bots_running"] == 1

        await until(took_over, TTL * 3, "B runs a1 once A is gone", (b,))

        async def traded_on() -> bool:
            return {r[0] for r in await fills(pg_url, ONE) if r[2] == b_id} == set(ONE)

        await until(traded_on, 30, "B traded a1", (b,))
        code, _ = await asyncio.to_thread(b.terminate, 15)
        assert code == 0
        await fake.settle()
    finally:
        for home in (home_a, home_b):
            await asyncio.to_thread(home.close)
        await fake.stop()

    log_b = b.text()
    assert "Traceback" not in log_b and "Traceback" not in a.text(), log_b[-3000:]
    listed = set(re.findall(r"unknown: order (\w+) .*listed for reconciliation", log_b))
    store = await Store.open(pg_url, writer=False)
    try:
        report = await camp.ledger_vs_exchange(store, fake, dict.fromkeys(ONE, CAPITAL), listed)
        for name in ONE:
            pf = Portfolio.from_fills(CAPITAL, await store.load_fills(name))
            coin, cash = moved_for(fake, name)
            held_qty = sum((p.qty for p in pf.positions.values()), Decimal(0))
            assert (held_qty - coin, pf.cash - CAPITAL - cash) == (0, 0), name
    finally:
        await store.close()
    assert camp.disagreements(report) == {}, report
    epochs = dict(
        await raw_rows(
            pg_url, "SELECT b.name, l.epoch FROM bot_leases l JOIN bots b ON b.id = l.bot_id"
        )
    )
    assert epochs == dict.fromkeys(ONE, 3)  # A's, B's refused claim, B's second one
