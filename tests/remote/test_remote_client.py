"""SocketClient and the blocking helpers against a real ControlServer (FakeEngine on this loop).

Blocking calls run in threads (asyncio.to_thread) so the server keeps serving on the test's loop.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from pathlib import Path

import pytest
from waiting import wait_for

from oxbot.engine.errors import OxbotError
from oxbot.engine.messages import (
    CommandDone,
    EngineSnapshot,
    EngineStateChanged,
    Event,
    Notice,
    StartBot,
    StopBot,
)
from oxbot.engine.models import BotStatus
from oxbot.remote.client import (
    DISCONNECTED,
    EngineNotRunning,
    SocketClient,
    engine_running,
    request_status,
    request_stop,
)
from oxbot.remote.server import ControlServer


class Inbox:
    """A listener that records events and the threads they arrived on."""

    def __init__(self) -> None:
        self.events: queue.Queue[Event] = queue.Queue()
        self.threads: set[str] = set()

    def __call__(self, event: Event) -> None:
        self.threads.add(threading.current_thread().name)
        self.events.put(event)

    async def next_of(self, kind: type, timeout: float = 5.0) -> Event:
        """The next event of ``kind`` (those before it are dropped)."""

        def take() -> Event | None:
            while True:
                try:
                    event = self.events.get_nowait()
                except queue.Empty:
                    return None
                if isinstance(event, kind):
                    return event

        return await wait_for(take, timeout, f"a {kind.__name__} event")


async def test_socket_client_snapshot_commands_and_detach(server, engine) -> None:
    inbox = Inbox()
    client = SocketClient(server.path)
    await asyncio.to_thread(client.start, inbox)
    try:
        assert client.attached is True
        first = await asyncio.to_thread(inbox.events.get, timeout=5)
        assert isinstance(first, EngineSnapshot) and len(first.bots) == 2

        client.submit(StartBot(request_id="t1", name="alpha"))  # from the test's thread
        stop_beta = StopBot(request_id="t2", name="beta")
        other = threading.Thread(target=client.submit, args=(stop_beta,))
        other.start()
        other.join()
        done = {(await inbox.next_of(CommandDone)).request_id for _ in range(2)}
        assert done == {"t1", "t2"}
        assert engine.bots["alpha"].status is BotStatus.RUNNING
        assert inbox.threads == {"oxbot-socket-client"}
    finally:
        await asyncio.to_thread(client.stop, 5)
    # Detaching leaves the engine alone: no Shutdown was sent and the server still serves.
    assert not engine.stop_requested.is_set()
    assert all(type(c).__name__ != "Shutdown" for c in engine.submitted)
    assert await asyncio.to_thread(engine_running, server.path)
    await wait_for(lambda: not server.clients, 5, "the server to drop the detached client")


async def test_submit_never_blocks_even_when_the_engine_does_not_read(engine, sock_dir) -> None:
    server = ControlServer(engine, sock_dir / "e.sock")
    await server.start()
    inbox = Inbox()
    client = SocketClient(server.path)
    await asyncio.to_thread(client.start, inbox)
    try:
        await inbox.next_of(EngineSnapshot)
        # The test's loop (the engine's) is not running while this thread-free loop submits:
        # 5,000 commands must be queued at once, without waiting for the engine.
        started = time.perf_counter()
        for i in range(5_000):
            client.submit(StartBot(request_id=f"n{i}", name="alpha"))
        assert time.perf_counter() - started < 2.0
        # ... and none is lost: the engine gets every one, in order, once it runs again.
        await wait_for(
            lambda: len(engine.submitted) >= 5_000,
            20,
            "the engine to receive all 5,000 commands",
            detail=lambda: f"received {len(engine.submitted)}",
        )
        assert [c.request_id for c in engine.submitted] == [f"n{i}" for i in range(5_000)]
    finally:
        await asyncio.to_thread(client.stop, 5)
        await server.close()


async def test_engine_going_away_is_reported_and_late_commands_fail(engine, sock_dir) -> None:
    server = ControlServer(engine, sock_dir / "e.sock")
    await server.start()
    inbox = Inbox()
    client = SocketClient(server.path)
    await asyncio.to_thread(client.start, inbox)
    try:
        await inbox.next_of(EngineSnapshot)
        await server.close()
        gone = await inbox.next_of(EngineStateChanged)
        assert gone.state == DISCONNECTED and str(server.path) in gone.message
        assert not client.connected
        client.submit(StartBot(request_id="late", name="alpha"))
        failed = await inbox.next_of(CommandDone)
        assert failed.request_id == "late" and not failed.ok and "not connected" in failed.message
    finally:
        await asyncio.to_thread(client.stop, 5)


async def test_protocol_errors_reach_the_listener_as_notices(server) -> None:
    inbox = Inbox()
    client = SocketClient(server.path)
    await asyncio.to_thread(client.start, inbox)
    try:
        await inbox.next_of(EngineSnapshot)
        client.submit(Notice(message="wrong way"))  # type: ignore[arg-type]
        notice = await inbox.next_of(Notice)
        assert notice.level == "error" and "Notice is an event" in notice.message
    finally:
        await asyncio.to_thread(client.stop, 5)


def test_socket_client_without_an_engine_says_how_to_start_one(sock_dir: Path) -> None:
    client = SocketClient(sock_dir / "none.sock", db=Path("/data/trading.db"))
    with pytest.raises(EngineNotRunning) as info:
        client.start(lambda e: None)
    text = str(info.value)
    assert "no oxbot engine is running for DB /data/trading.db" in text
    assert str(sock_dir / "none.sock") in text and "oxbot run --headless" in text
    client.stop()


async def test_request_status_returns_the_summary(server, engine) -> None:
    summary = await asyncio.to_thread(request_status, server.path)
    assert summary == engine.status_summary()


@pytest.mark.parametrize(
    "summary", [{"bots_in_error": {"a": "nested"}}, None], ids=["non-plain-value", "raises"]
)
async def test_a_status_the_engine_cannot_give_is_refused_at_once(
    server, engine, summary, monkeypatch
) -> None:
    """A summary holding a value the line protocol cannot carry (or a summary that raises)
    gets an error line: the client says why at once instead of waiting for its timeout."""

    def broken() -> dict:
        if summary is None:
            raise RuntimeError("summary bug")
        return summary

    monkeypatch.setattr(engine, "status_summary", broken)
    t0 = time.monotonic()
    with pytest.raises(OxbotError, match="refused the status request: status failed"):
        await asyncio.to_thread(request_status, server.path, 10.0)
    assert time.monotonic() - t0 < 5  # the answer, not the 10 s timeout


async def test_request_stop_waits_for_the_engine_to_close(server, engine) -> None:
    async def headless_runner() -> None:  # what `oxbot run --headless` does after run()
        await engine.stop_requested.wait()
        await asyncio.sleep(0.2)  # state being persisted
        await server.close()

    runner = asyncio.create_task(headless_runner())
    started = time.monotonic()
    stopped = await asyncio.to_thread(request_stop, server.path, 5)
    assert stopped is True and time.monotonic() - started >= 0.2
    await runner
    assert not server.path.exists()
    assert not await asyncio.to_thread(engine_running, server.path)


async def test_request_stop_gives_up_after_the_timeout(fake_engine_cls, sock_dir) -> None:
    stubborn = fake_engine_cls(honour_shutdown=False)
    server = ControlServer(stubborn, sock_dir / "e.sock")
    await server.start()
    try:
        started = time.monotonic()
        stopped = await asyncio.to_thread(request_stop, server.path, 0.5)
        assert stopped is False and 0.4 < time.monotonic() - started < 3
    finally:
        await server.close()


async def test_helpers_without_an_engine(sock_dir: Path) -> None:
    path = sock_dir / "none.sock"
    assert await asyncio.to_thread(engine_running, path) is False
    with pytest.raises(EngineNotRunning, match="oxbot run --headless"):
        await asyncio.to_thread(request_status, path)
    with pytest.raises(EngineNotRunning, match="oxbot run --headless"):
        await asyncio.to_thread(request_stop, path)
