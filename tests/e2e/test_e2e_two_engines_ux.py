"""Two `oxbot run --headless` engines on ONE host, with the same OXBOT_HOME and the same
PostgreSQL database (tests/support/postgres.py): each listens on a control socket of its own
(remote/paths.py: per engine for a PostgreSQL database), so neither refuses to start; the
commands that talk to "the" engine ask which one (`--engine NAME`) and name them; `oxbot status`
prints the engines, the bots each holds, and a dead engine as "silent"."""

from __future__ import annotations

import queue
from typing import Any

import pytest
from waiting import wait_until

from oxbot.engine.messages import AddBot, CommandDone, EngineSnapshot
from oxbot.engine.models import BotConfig
from oxbot.remote.client import SocketClient
from oxbot.remote.paths import socket_path_for

TTL = 1  # s: --lease-ttl of both engines: a killed one is "silent" after a second


def add_and_start(sock: Any, name: str) -> None:
    events: queue.Queue[Any] = queue.Queue()
    client = SocketClient(sock)
    client.start(events.put)
    try:
        assert isinstance(events.get(timeout=10), EngineSnapshot)
        config = BotConfig(
            name=name,
            strategy="sma_cross",
            params={"fast": 2, "slow": 5},
            symbols=["BTC/USDT"],
            risk={"stop_loss_pct": "0.3", "take_profit_pct": "0.5"},
        )
        client.submit(AddBot(request_id=f"add-{name}", config=config, start=True))
        while not isinstance(ev := events.get(timeout=20), CommandDone):
            pass
        assert ev.ok, ev.message
    finally:
        client.stop(timeout=2)


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_two_engines_on_one_host_each_have_a_socket_and_status_names_them(home):
    run = home.root / "run"
    socks = {n: socket_path_for(home.db.resolve(), run, n) for n in ("A", "B")}
    engines = {}
    for name in ("A", "B"):
        engines[name] = home.spawn(
            "run", "--headless", "--sim-speed", "600", "--engine-name", name,
            "--lease-ttl", str(TTL),
        )  # fmt: skip
    for name in ("A", "B"):
        wait_until(lambda n=name: socks[n].exists(), 30, f"engine {name}'s socket")
    add_and_start(socks["A"], "a1")
    add_and_start(socks["B"], "b1")

    r = home.cli("status")  # two engines answer here: which one?
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "2 engines of this database run on this host: A, B" in r.stderr
    assert "--engine NAME" in r.stderr
    assert "ENGINE" in r.stdout  # the engines table, to pick from
    assert all(e.proc.poll() is None for e in engines.values())

    text = home.ok("status", "--engine", "A")  # what the user reads
    lines = text.splitlines()
    assert any(line.split() == ["engine", "name", "A"] for line in lines), text
    table = {line.split()[0]: line.split() for line in lines if line.split()[:1] in (["A"], ["B"])}
    assert table["A"][-2:] == ["alive", "a1"] and table["B"][-2:] == ["alive", "b1"], text

    # as if B ran on another host: A cannot see that B's process is gone (on one host it
    # would, and mark B stopped), so B is listed as silent once its heartbeat is older than
    # its ttl (storage/leases.py ``listing``)
    home.query("UPDATE engines SET host = 'host-of-b' WHERE name = 'B'")
    engines["B"].proc.kill()  # its socket file stays behind; it no longer answers
    engines["B"].proc.wait(5)

    def b_silent() -> bool:
        text = home.ok("status", env={**home.env, "OXBOT_ENGINE": "A"})
        rows = [line.split() for line in text.splitlines() if line.split()[:1] == ["B"]]
        return bool(rows) and "silent" in rows[0]

    wait_until(b_silent, TTL + 10, "B listed as silent")
    assert "stopping the oxbot engine" in home.ok("stop")  # one answers now: no --engine
    code = engines["A"].proc.wait(10)
    assert code == 0 and "Traceback" not in engines["A"].text()
