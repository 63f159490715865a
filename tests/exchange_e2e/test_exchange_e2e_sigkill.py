"""SIGKILL a LIVE headless engine 20 times per exchange dialect, each time while an order request
is in flight (the fake exchange holds it: some are applied after the client is gone, some never
are). The engine is the one a user runs — `oxbot run --headless` in its own process, pointed at
the fake through settings.json, keys from the environment, the bot added with `oxbot bots add
--live` — and each restart settles what the killed one left. At the end, with a last engine
stopped by `oxbot stop`: 0 duplicate orders, 0 exchange orders unknown to the database, 0 drift
of coin or cash, the database intact, and every order still unknown listed by reconciliation."""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from waiting import wait_for

KILLS = 12  # per dialect: 24 SIGKILLs of a LIVE engine with a request in flight
CREATE = {"binance": ("POST", "/api/v3/order"), "okx": ("POST", "/api/v5/trade/batch-orders")}
# How a create is held in flight: applied late (after the client timed out), applied and then
# answered after the timeout, or never applied.
HELD = ["late", "stall_after", "stall", "late_arrival"]
OXBOT = [sys.executable, "-m", "oxbot.cli.main"]


def _oxbot(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OXBOT, *args], env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["binance", "okx"])
async def test_sigkill_with_orders_in_flight_then_restart(
    kind: str, camp: Any, tmp_path: Path, record_property: Any
) -> None:
    from oxbot.storage.store import Store

    fake = camp.clocked(
        kind,
        speed=1200,
        stall_s=0.6,
        late_s=0.5,
        balances={"USDT": Decimal("1000000"), "BTC": Decimal("0")},
    )
    fake.retry_after_s = 0
    rng = random.Random(f"sigkill-{kind}")
    create = CREATE[kind]
    fake.fault_fn = lambda m, p: (
        rng.choice(HELD) if (m, p) == create and rng.random() < 0.7 else None
    )
    await fake.start()
    home, db = tmp_path / "home", tmp_path / "oxbot.db"
    camp.write_settings(home, fake, stale_after_s=30)
    env = {**os.environ, "OXBOT_HOME": str(home), **camp.key_env(fake)}
    added = await asyncio.to_thread(
        _oxbot,
        [
            "--db",
            str(db),
            "bots",
            "add",
            "killme",
            "--exchange",
            kind,
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
        ],
        env,
    )
    assert added.returncode == 0, added.stderr
    in_flight = 0
    logs: list[Path] = []
    try:
        for i in range(KILLS):
            log = tmp_path / f"engine{i}.log"
            logs.append(log)
            seen = sum(1 for e in fake.log if (e["method"], e["path"]) == create)
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    [*OXBOT, "--db", str(db), "run", "--headless"],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            try:
                # Kill while the newest order request is still held by the exchange.
                def held(proc: Any = proc, seen: int = seen, log: Path = log) -> bool:
                    sends = [e for e in fake.log if (e["method"], e["path"]) == create]
                    if len(sends) > seen and sends[-1].get("fault") in HELD:
                        return True
                    assert proc.poll() is None, log.read_text()[-3000:]
                    return False

                await wait_for(
                    held,
                    60,
                    "a new order held by the exchange",
                    pause=lambda: asyncio.sleep(0.01),
                    detail=lambda log=log: log.read_text()[-3000:],
                )
                await asyncio.sleep(rng.uniform(0, 0.2))  # held 0.5-0.6 s: still in flight
                in_flight += 1
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
        fake.fault_fn = None
        await fake.settle()
        # A last engine settles what the kills left, then stops the way a user stops it.
        log = tmp_path / "engine-last.log"
        logs.append(log)
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [*OXBOT, "--db", str(db), "run", "--headless"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            settled = [False]

            async def look() -> None:  # the database is read between checks
                await asyncio.sleep(0.2)
                assert proc.poll() is None, log.read_text()[-3000:]
                settled[0] = _settled(await _unresolved(db), _listed(logs))

            await look()
            await wait_for(
                lambda: settled[0],
                60,
                "every order the kills left settled",
                pause=look,
                detail=lambda: log.read_text()[-3000:],
            )
            stopped = await asyncio.to_thread(_oxbot, ["--db", str(db), "stop"], env)
            assert stopped.returncode == 0, stopped.stderr
            assert proc.wait(30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    finally:
        await fake.stop()

    store = await Store.open(db, writer=False)
    try:
        assert await store.integrity_check() == "ok"
        listed = _listed(logs)
        report = await camp.ledger_vs_exchange(store, fake, {"killme": Decimal("10000")}, listed)
    finally:
        await store.close()
    settled = sum(1 for p in logs if "settled with the exchange" in p.read_text())
    lines = [
        f"{kind} SIGKILL x{KILLS} ({in_flight} with an order request in flight): "
        f"{report['exchange_orders']} exchange orders, {report['fills']} fills, {settled} "
        f"restarts settled orders a kill left unresolved, {len(listed)} listed as unknown; "
        "disagreements (duplicates, unknown to the database, wrong state, missing or "
        f"extra fills, drift): {len(camp.disagreements(report))}"
    ]
    lines += [
        f"  {key}: {value if not isinstance(value, list) else value[:10]}"
        for key, value in camp.disagreements(report).items()
    ]
    record_property("figures", "\n".join(lines))
    print("\n" + "\n".join(lines))
    assert camp.disagreements(report) == {}, report
    assert in_flight == KILLS and settled > 0
    assert report["exchange_orders"] >= KILLS


async def _unresolved(db: Path) -> list[Any]:
    from oxbot.storage.store import Store

    store = await Store.open(db, writer=False)
    try:
        return await store.open_orders("killme")
    finally:
        await store.close()


def _listed(logs: list[Path]) -> set[str]:
    """Client order ids the engines' logs listed for reconciliation as unknown orders."""
    out: set[str] = set()
    for p in logs:
        if p.exists():
            out |= set(
                re.findall(
                    r"unknown: order (\w+) .*listed for reconciliation",
                    p.read_text(errors="replace"),
                )
            )
    return out


def _settled(unresolved: list[Any], listed: set[str]) -> bool:
    return all(o.client_order_id in listed for o in unresolved)
