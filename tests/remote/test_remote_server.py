"""The control server on a real Unix socket, with a FakeEngine on the test's loop."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import time
from pathlib import Path

import pytest
from waiting import wait_for

from oxbot.engine.messages import (
    BotStateChanged,
    CommandDone,
    EngineSnapshot,
    Notice,
    ReasoningChunk,
    RequestSnapshot,
    StartBot,
)
from oxbot.engine.models import BotStatus
from oxbot.remote.codec import ProtocolError, StatusReport, StatusRequest
from oxbot.remote.server import ControlServer, ControlSocketError, socket_path_for


async def test_snapshot_first_then_command_outcome(server, engine, connect) -> None:
    client = await connect(server.path)
    first = await client.next()
    assert isinstance(first, EngineSnapshot)
    assert [b.name for b in first.bots] == ["alpha", "beta"]
    assert all(b.status is BotStatus.STOPPED for b in first.bots)

    await client.send(StartBot(request_id="r1", name="alpha"))
    changed = await client.next_of(BotStateChanged)
    assert changed.bot.name == "alpha" and changed.bot.status is BotStatus.RUNNING
    done = await client.next_of(CommandDone)
    assert (done.request_id, done.command, done.ok) == ("r1", "StartBot", True)
    assert engine.submitted == [StartBot(request_id="r1", name="alpha")]

    await client.send(StartBot(request_id="r2", name="nobody"))
    refused = await client.next_of(CommandDone)
    assert refused.request_id == "r2" and not refused.ok and "nobody" in refused.message


async def test_every_client_sees_every_event(server, engine, connect) -> None:
    a, b = await connect(server.path), await connect(server.path)
    for c in (a, b):
        assert isinstance(await c.next(), EngineSnapshot)
    await a.send(StartBot(request_id="from-a", name="beta"))
    for c in (a, b):
        done = await c.next_of(CommandDone)
        assert done.request_id == "from-a"


async def test_status_request_is_answered_with_the_summary(server, engine, connect) -> None:
    client = await connect(server.path)
    await client.send(StatusRequest(request_id="s1"))
    report = await client.next_of(StatusReport)
    assert report.request_id == "s1"
    assert report.summary == engine.status_summary()
    assert engine.submitted == []  # answered by the server, not queued as a command


async def test_malformed_lines_get_an_error_line_and_the_server_lives(server, connect) -> None:
    client = await connect(server.path)
    await client.next()  # snapshot
    await client.send_raw(b"this is not json\n")
    err = await client.next_of(ProtocolError)
    assert "not valid JSON" in err.message
    await client.send_raw(b'{"type": "LaunchRocket"}\n')
    err = await client.next_of(ProtocolError)
    assert "unknown message type 'LaunchRocket'" in err.message
    await client.send(Notice(message="events go the other way"))
    err = await client.next_of(ProtocolError)
    assert "Notice is an event" in err.message
    # Same connection still works, and so does a new one.
    await client.send(StartBot(request_id="after", name="alpha"))
    assert (await client.next_of(CommandDone)).request_id == "after"
    other = await connect(server.path)
    assert isinstance(await other.next(), EngineSnapshot)


async def test_an_over_long_line_is_dropped_whole_and_its_tail_never_runs(
    server, engine, connect
) -> None:
    """asyncio's readline() drops only what it buffered of a line over the limit and hands the
    rest back as a line of its own (CPython Lib/asyncio/streams.py, readline: "the buffer is
    cleared" when no separator was found): the tail of a 17 MiB line once ran as a command."""
    from oxbot.remote.server import LINE_LIMIT

    client = await connect(server.path)
    await client.next()  # snapshot
    smuggled = b'{"type":"StartBot","request_id":"smuggled","name":"alpha"}\n'
    await client.send_raw(b" " * (LINE_LIMIT + 1024 * 1024) + smuggled)
    err = await client.next_of(ProtocolError)
    assert err.message == "line too long; ignored"
    # The connection goes on: the next command is answered, and the smuggled one never ran.
    await client.send(StartBot(request_id="after", name="beta"))
    done = await client.next_of(CommandDone)
    assert done.request_id == "after"
    assert engine.submitted == [StartBot(request_id="after", name="beta")]


@pytest.mark.parametrize(
    "line, said",
    [
        (b"[" * 100_000 + b"\n", "nested too deeply"),
        (b'{"type":"StartBot","name":' + b"[" * 5000 + b"]" * 5000 + b"}\n", "nested too deeply"),
        (b'{"type":"StartBot","name":' + b"7" * 5000 + b"}\n", "cannot be read"),
        (b'{"type":"StartBot","name":"\\ud800"}\n', "not valid Unicode"),
    ],
    ids=["deep-list", "deep-field", "huge-integer", "lone-surrogate"],
)
async def test_json_that_python_cannot_hold_gets_an_error_line(
    server, engine, connect, line: bytes, said: str
) -> None:
    """Python's json raises RecursionError on deep nesting and ValueError on integers of more
    than 4,300 digits (sys.set_int_max_str_digits); both once closed the connection."""
    client = await connect(server.path)
    await client.next()  # snapshot
    await client.send_raw(line)
    err = await client.next_of(ProtocolError)
    assert said in err.message
    await client.send(StartBot(request_id="after", name="alpha"))
    assert (await client.next_of(CommandDone)).request_id == "after"


async def test_a_client_that_hangs_up_mid_stream_harms_nobody(server, engine, connect) -> None:
    rude = await connect(server.path)
    await rude.send_raw(b'{"type": "StartBot", "name": "alp')  # half a line, then gone
    await rude.close()
    for i in range(100):
        engine.bus.publish(ReasoningChunk(bot="alpha", text=str(i)))
    await wait_for(lambda: server.clients == 0, 5, "the server to drop the client that hung up")
    polite = await connect(server.path)
    assert isinstance(await polite.next(), EngineSnapshot)
    assert server.clients == 1


async def test_slow_client_never_blocks_the_engine_and_is_resynced(
    fake_engine_cls, sock_dir: Path, connect
) -> None:
    engine = fake_engine_cls()
    server = ControlServer(engine, sock_dir / "engine.sock", queue_size=200)
    await server.start()
    try:
        slow = await connect(server.path, limit=16 * 1024)  # stops reading after ~32 KB
        fast = await connect(server.path)
        fast_seen: list[object] = [await fast.next()]
        # both connections subscribed before the flood
        await wait_for(lambda: server.clients >= 2, 5, "both connections subscribed")

        async def read_fast() -> None:
            while True:
                msg = await fast.next()
                fast_seen.append(msg)
                if isinstance(msg, Notice) and msg.message == "end":
                    return

        reader = asyncio.create_task(read_fast())
        payload = "x" * 2048
        total, worst_batch = 2000, 0.0
        started = time.perf_counter()
        for i in range(0, total, 20):
            t0 = time.perf_counter()
            for j in range(i, i + 20):
                engine.bus.publish(ReasoningChunk(bot="alpha", text=f"{j}:{payload}"))
            worst_batch = max(worst_batch, time.perf_counter() - t0)
            await asyncio.sleep(0.001)
        engine.bus.publish(Notice(message="end"))
        publishing = time.perf_counter() - started
        await asyncio.wait_for(reader, 10)

        # The engine never waited on the stalled client: 4 MB went out in well under a second.
        assert publishing < 2.0 and worst_batch < 0.05
        chunks = [m for m in fast_seen if isinstance(m, ReasoningChunk)]
        assert len(chunks) == total  # the client that keeps up loses nothing
        assert not any(isinstance(m, EngineSnapshot) for m in fast_seen[1:])

        # The stalled client lost events; when it reads again it is handed a fresh snapshot
        # (the queued, partial backlog is discarded) and then the live stream.
        slow_seen = [await slow.next()]
        while not isinstance(slow_seen[-1], EngineSnapshot) or len(slow_seen) == 1:
            slow_seen.append(await slow.next())
        engine.bus.publish(Notice(message="after resync"))
        assert await slow.next() == Notice(message="after resync")
        slow_chunks = [m for m in slow_seen if isinstance(m, ReasoningChunk)]
        assert isinstance(slow_seen[0], EngineSnapshot)
        assert 0 < len(slow_chunks) < total
        assert any(sub.dropped > 0 for sub in engine.bus._subs)
    finally:
        await server.close()


async def test_socket_is_owner_only(server) -> None:
    assert stat.S_ISSOCK(os.stat(server.path).st_mode)
    assert stat.S_IMODE(os.stat(server.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(server.path.parent).st_mode) == 0o700


async def test_loose_directory_is_tightened(engine, sock_dir: Path) -> None:
    loose = sock_dir / "loose"
    loose.mkdir(mode=0o755)
    os.chmod(loose, 0o755)
    srv = ControlServer(engine, loose / "e.sock")
    await srv.start()
    try:
        assert stat.S_IMODE(os.stat(loose).st_mode) == 0o700
    finally:
        await srv.close()


async def test_stale_socket_from_a_dead_engine_is_replaced(engine, sock_dir, connect) -> None:
    path = sock_dir / "e.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))  # bound, never listening, then gone: what a SIGKILLed engine leaves
    dead.close()
    assert path.exists()
    srv = ControlServer(engine, path)
    await srv.start()
    try:
        client = await connect(path)
        assert isinstance(await client.next(), EngineSnapshot)
    finally:
        await srv.close()


async def test_refuses_to_start_when_a_live_engine_answers(server, fake_engine_cls, connect):
    second = ControlServer(fake_engine_cls(bots=("other",)), server.path)
    with pytest.raises(ControlSocketError, match="already running"):
        await second.start()
    client = await connect(server.path)  # the first engine is untouched
    snap = await client.next()
    assert [b.name for b in snap.bots] == ["alpha", "beta"]


async def test_refuses_a_path_that_is_not_a_socket(engine, sock_dir: Path) -> None:
    path = sock_dir / "e.sock"
    path.write_text("important")
    with pytest.raises(ControlSocketError, match="not a socket"):
        await ControlServer(engine, path).start()
    assert path.read_text() == "important"


async def test_refuses_a_path_too_long_for_a_unix_socket(engine, sock_dir: Path) -> None:
    with pytest.raises(ControlSocketError, match="too long"):
        await ControlServer(engine, sock_dir / ("d" * 120) / "e.sock").start()


async def test_close_disconnects_clients_and_removes_the_socket(engine, sock_dir, connect):
    srv = ControlServer(engine, sock_dir / "e.sock")
    await srv.start()
    client = await connect(srv.path)
    await client.next()
    await srv.close()
    assert not srv.path.exists()
    with pytest.raises(EOFError):
        await client.next_of(CommandDone, timeout=2)
    assert engine.bus._subs == []  # every per-connection subscription was released


async def test_request_snapshot_resyncs(server, engine, connect) -> None:
    client = await connect(server.path)
    await client.next()
    engine.submit(StartBot(name="beta"))
    await client.send(RequestSnapshot(request_id="snap"))
    snap = await client.next_of(EngineSnapshot)
    assert {b.name: b.status for b in snap.bots}["beta"] is BotStatus.RUNNING


def test_socket_path_is_one_per_database_and_short(tmp_path: Path) -> None:
    run = Path("/run/user/1000/oxbot")
    db = tmp_path / "a.db"
    same = socket_path_for(tmp_path / "sub" / ".." / "a.db", run)
    assert socket_path_for(db, run) == same
    assert socket_path_for(tmp_path / "b.db", run) != same
    assert same.parent == run and same.suffix == ".sock"
    deep = Path("/home/someone") / ("very-long-folder-name-" * 5) / "oxbot"
    fallback = socket_path_for(db, deep)
    assert len(str(fallback)) < 100
    assert fallback.name == same.name and str(fallback).startswith(f"/tmp/oxbot-{os.getuid()}/")
