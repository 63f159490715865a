"""The headless log as a person reads it: each thing said once, in plain words.

The engine runs as `oxbot run --headless` runs it (tui.headless.serve with setup_logging), its
PAPER bot on the fake Binance, which answers every request with 503 from the start: the price
never arrives, the market's circuit breaker opens and the stream is marked stale. Notices used
to be logged twice (once by the module that raised them, once by the headless event logger), and
the stale notice promised stop-losses would "use the last price None".
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from waiting import wait_for

from oxbot.engine.messages import AddBot, Notice, RequestEquityHistory, RequestRecentFills
from oxbot.engine.models import Mode


@pytest.fixture
def restore_logging() -> Any:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


async def serve_headless(opts: Any, monkeypatch: Any) -> tuple[asyncio.Task[int], Any]:
    """``oxbot run --headless`` as the CLI runs it (headless.serve, plain log lines); the
    engine it built, once ready."""
    from oxbot.app import headless
    from oxbot.app.logs import setup_logging

    built: list[Any] = []
    real_build = headless.build_engine

    async def build(*args: Any, **kw: Any) -> Any:
        engine = await real_build(*args, **kw)
        built.append(engine)
        return engine

    monkeypatch.setattr(headless, "build_engine", build)
    setup_logging("plain")
    serving = asyncio.create_task(headless.serve(opts, 3600, None))
    await wait_for(lambda: built and built[0].ready.is_set(), 30, "the headless engine ready")
    return serving, built[0]


class Logged(logging.Handler):
    """The messages logged from now on (a second handler beside setup_logging's), so a test
    can wait until the headless event logger has written a line."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []
        logging.getLogger().addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def has(self, text: str) -> bool:
        return any(text in m for m in self.messages)


async def stop_and_read(
    engine: Any, serving: asyncio.Task[int], capsys: Any
) -> tuple[str, list[str]]:
    """Stop the engine (exit code 0) and read its log: the text, and its messages (after the
    time and level, without the fake exchange's own log), none said twice."""
    engine.request_stop()
    assert await asyncio.wait_for(serving, 30) == 0
    log = capsys.readouterr().err
    lines = [
        line.split(": ", 1)[1]
        for line in log.splitlines()
        if ": " in line and "aiohttp.access" not in line
    ]
    repeated = {text: n for text, n in Counter(lines).items() if n > 1}
    assert repeated == {}, log
    return log, lines


async def test_headless_log_says_each_thing_once(
    fake: Any,
    sup: Any,
    camp: Any,
    tmp_path: Path,
    capsys: Any,
    monkeypatch: Any,
    restore_logging: Any,
) -> None:
    fake.fault_fn = lambda _method, _path: "503"
    from oxbot.app.runtime import RuntimeOptions, exchange_options

    settings = camp.write_settings(
        tmp_path / "home", fake, stale_after_s=0.3, breaker_after=2, breaker_cooldown_s=5
    )
    opts = RuntimeOptions(
        db_path=tmp_path / "oxbot.db", snapshot_every_s=None, **exchange_options(settings)
    )
    serving, engine = await serve_headless(opts, monkeypatch)
    logged = Logged()
    notices: list[Notice] = []
    engine.bus.listen(lambda e: notices.append(e) if isinstance(e, Notice) else None)
    engine.submit(AddBot(config=sup.bot("paper1", Mode.PAPER), start=True))
    # what an attaching cockpit asks for
    engine.submit(RequestEquityHistory(bot="paper1"))
    engine.submit(RequestRecentFills())
    await wait_for(
        lambda: (
            any("STALE" in n.message for n in notices)
            and any("breaker OPEN" in n.message for n in notices)
        ),
        30,
        "the STALE and breaker OPEN notices",
        detail=lambda: str([n.message for n in notices]),
    )
    # the event logger's turn: wait until it has written both
    await wait_for(
        lambda: logged.has("STALE") and logged.has("breaker OPEN"),
        10,
        "the event logger to log both notices",
        detail=lambda: str(logged.messages),
    )
    log, lines = await stop_and_read(engine, serving, capsys)
    stale = [line for line in lines if "STALE" in line]
    assert len(stale) == 1 and "None" not in stale[0], stale
    assert "no price has arrived yet" in stale[0]
    assert not [line for line in log.splitlines() if "Request" in line], log


async def test_reconciliation_is_logged_once(
    fake: Any,
    sup: Any,
    camp: Any,
    tmp_path: Path,
    capsys: Any,
    monkeypatch: Any,
    restore_logging: Any,
) -> None:
    """A LIVE bot started headless finds an order of its own the database does not know (an
    orphan, as after restoring an old backup) and coins that are the user's own: each said once
    in the log, however many cycles and lookups follow."""
    from decimal import Decimal

    from oxbot.app.runtime import RuntimeOptions, exchange_options
    from oxbot.engine.exchange.broker import new_client_order_id
    from oxbot.engine.messages import ReconcileFound

    for key, value in camp.key_env(fake).items():
        monkeypatch.setenv(key, value)
    orphan = new_client_order_id("log1")
    await camp.place_resting(fake, orphan)
    fake.balances["BTC"] += Decimal("0.7")  # the user's own coins
    settings = camp.write_settings(tmp_path / "home", fake)
    opts = RuntimeOptions(
        db_path=tmp_path / "oxbot.db", snapshot_every_s=None, **exchange_options(settings)
    )
    serving, engine = await serve_headless(opts, monkeypatch)
    found: list[ReconcileFound] = []
    engine.bus.listen(lambda e: found.append(e) if isinstance(e, ReconcileFound) else None)
    engine.submit(AddBot(config=sup.holder("log1"), start=True))
    await wait_for(
        lambda: any(orphan in i.detail for e in found for i in e.items),
        30,
        "reconciliation to find the orphan",
        detail=lambda: str(found),
    )
    n = len(fake.log)
    await wait_for(
        lambda: len(fake.log) >= n + 60,
        30,  # cycles and lookups go on
        "60 more requests to the exchange",
    )
    log, lines = await stop_and_read(engine, serving, capsys)
    assert len([line for line in lines if orphan in line]) == 1, log
    assert len([line for line in lines if "is your own" in line]) == 1, log
