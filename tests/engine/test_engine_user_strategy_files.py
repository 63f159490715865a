"""A user's strategy file through the engine (the runtime's strategy factory, as the cockpit's
in-process engine and the headless one build it): an edit reaches new runs without a restart
while a running bot keeps the version it started with; a file that does not load leaves its
stored bot listed in the error state with the loader's file:line message, never started and
harming no other bot, and starting it repeats the message until the file is fixed.

What this relies on: `load_user_strategies` reads `$OXBOT_HOME/config/strategies`
(storage/paths.py `strategies_dir`); a rule strategy's decision carries `explain()`'s text in
`DecisionMade.reasoning` (engine/strategies/base.py `Strategy.decide`, engine/bot.py `_act`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from oxbot.app.runtime import RuntimeOptions, strategy_factory
from oxbot.engine.messages import AddBot, DecisionMade, StartBot, StopBot
from oxbot.engine.models import BotConfig, BotStatus
from oxbot.engine.strategies import loader

from .conftest import Harness, make_engine

VERSION = """
from oxbot.engine.strategies import NONE, Strategy
import numpy as np

class Marker(Strategy):
    name = "marker"
    def warmup(self):
        return 2
    def signals(self, frame):
        return np.full(len(frame), NONE, dtype=np.int8)
    def explain(self, frame, signal):
        return "version {n}"
"""
BROKEN = "import os\n\nraise RuntimeError('half-saved edit')\n"


@pytest.fixture
def strategies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("OXBOT_HOME", str(tmp_path / "home"))
    d = tmp_path / "home" / "config" / "strategies"
    d.mkdir(parents=True)
    yield d
    for f in d.glob("*.py"):  # the registry is the process's: take the test's names out
        f.unlink()
    loader.discover(d, entry_points=False)


def bot(name: str) -> BotConfig:
    return BotConfig(name=name, strategy="marker", symbols=["BTC/USDT"], timeframe="1m")


def versions(h: Harness, name: str, after: int = 0) -> list[str]:
    return [
        m.group(1)
        for e in h.events[after:]
        if isinstance(e, DecisionMade) and e.bot == name
        for m in [re.search(r"version (\d+)", e.reasoning)]
        if m
    ]


def engine_for(store, db_path: Path):
    opts = RuntimeOptions(db_path=db_path)
    return make_engine(store, max_candles=None, strategy_factory=strategy_factory(opts))


async def test_an_edit_reaches_new_runs_and_running_bots_keep_their_version(
    store, db_path, strategies
) -> None:
    path = strategies / "marker.py"
    path.write_text(VERSION.format(n=1))
    h = Harness(engine_for(store, db_path))
    await h.start()
    try:
        assert (await h.do(AddBot(config=bot("a"), start=True))).ok
        await h.drain(lambda: len(versions(h, "a")) >= 3)

        # the same size, the same mtime: only the bytes say it was edited
        stat = path.stat()
        path.write_text(VERSION.format(n=2))
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert path.stat().st_size == stat.st_size
        edited = len(h.events)
        assert (await h.do(AddBot(config=bot("b"), start=True))).ok
        await h.drain(
            lambda: len(versions(h, "b", edited)) >= 3 and len(versions(h, "a", edited)) >= 3
        )
        assert set(versions(h, "b", edited)) == {"2"}
        assert set(versions(h, "a", edited)) == {"1"}  # running: the version it started with

        assert (await h.do(StopBot(name="a"))).ok
        restarted = len(h.events)
        assert (await h.do(StartBot(name="a"))).ok
        await h.drain(lambda: len(versions(h, "a", restarted)) >= 3)
        assert set(versions(h, "a", restarted)) == {"2"}

        path.write_text(BROKEN)  # broken by an edit: new runs are refused, running bots go on
        broke = len(h.events)
        done = await h.do(AddBot(config=bot("c"), start=True))
        assert not done.ok
        assert f"strategy 'marker' did not load: {path}:3: RuntimeError: half-saved edit" in (
            done.message
        )
        assert "c" not in h.engine.runners
        await h.drain(
            lambda: len(versions(h, "a", broke)) >= 3 and len(versions(h, "b", broke)) >= 3
        )
        assert set(versions(h, "a", broke)) == set(versions(h, "b", broke)) == {"2"}

        assert (await h.do(StopBot(name="b"))).ok
        again = await h.do(StartBot(name="b"))
        assert not again.ok and f"{path}:3: RuntimeError" in again.message
        assert h.engine.runners["b"].status is BotStatus.STOPPED
        assert f"{path}:3" in h.engine.runners["b"].view().last_error

        path.write_text(VERSION.format(n=4))  # fixed: starts without an engine restart
        fixed = len(h.events)
        assert (await h.do(StartBot(name="b"))).ok
        await h.drain(lambda: len(versions(h, "b", fixed)) >= 3)
        assert set(versions(h, "b", fixed)) == {"4"}
        assert h.engine.runners["b"].view().last_error == ""
    finally:
        await h.stop()


async def test_a_stored_bot_whose_strategy_does_not_load_is_listed_and_never_started(
    store, db_path, strategies
) -> None:
    path = strategies / "marker.py"
    path.write_text(BROKEN)
    await store.save_bot(bot("broken"), BotStatus.RUNNING)
    other = BotConfig(name="other", strategy="sma_cross", symbols=["BTC/USDT"], timeframe="1m")
    await store.save_bot(other, BotStatus.RUNNING)
    h = Harness(engine_for(store, db_path))
    await h.start()
    try:
        view = {b.name: b for b in h.engine.snapshot().bots}
        assert view["broken"].status is BotStatus.ERROR
        assert f"{path}:3: RuntimeError: half-saved edit" in view["broken"].last_error
        assert view["other"].status is BotStatus.RUNNING
        assert h.engine.runners["broken"].task is None
        summary = h.engine.status_summary()
        assert summary["bots_in_error"] == f"broken: {view['broken'].last_error}"
        stored = {c.name: s for c, s in await store.load_bots()}
        assert stored["broken"] is BotStatus.ERROR  # a later engine start does not resume it

        refused = await h.do(StartBot(name="broken"))
        assert not refused.ok and f"{path}:3: RuntimeError: half-saved edit" in refused.message
        assert h.engine.runners["broken"].status is BotStatus.ERROR

        path.write_text(VERSION.format(n=5))
        fixed = len(h.events)
        assert (await h.do(StartBot(name="broken"))).ok
        await h.drain(lambda: len(versions(h, "broken", fixed)) >= 3)
        assert set(versions(h, "broken", fixed)) == {"5"}
        assert h.engine.runners["other"].status is BotStatus.RUNNING
        assert "bots_in_error" not in h.engine.status_summary()
    finally:
        await h.stop()


def test_a_broken_edit_names_its_file_for_the_names_it_defined(strategies) -> None:
    """The file's stem is not the strategy's name: asking for the name still gets the error
    of the file that defined it, and no bytecode cache is written beside the user's files."""
    from oxbot.engine.errors import ConfigError
    from oxbot.engine.strategies import strategy_class

    path = strategies / "my_collection.py"
    path.write_text(VERSION.format(n=1))
    loader.discover(strategies, entry_points=False)
    assert strategy_class("marker").__module__.endswith("my_collection")
    path.write_text(BROKEN)
    loader.discover(strategies, entry_points=False)
    with pytest.raises(ConfigError) as e:
        strategy_class("marker")
    assert f"strategy 'marker' did not load: {path}:3: RuntimeError: half-saved edit" in str(
        e.value
    )
    assert not (strategies / "__pycache__").exists()
