"""The control socket: a headless engine's door for `oxbot attach | status | stop`.

A Unix domain socket, owner-only (file 0600 in a 0700 directory), one per database, speaking the
JSON lines of `engine.codec`. It runs on the engine's own loop. Each connection gets an
EngineSnapshot first, then every event from its own bounded bus subscription; a client too slow
to keep up loses events, never stalls the engine, and is sent a fresh snapshot to resync. Lines a
client sends are commands for `engine.submit`; a StatusRequest is answered here with the
engine's status summary; a line that cannot be decoded is answered with a ProtocolError line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import stat
from pathlib import Path
from typing import Any, Protocol

from oxbot.engine.bus import EventBus, Subscription
from oxbot.engine.errors import OxbotError
from oxbot.engine.messages import Command, EngineSnapshot, Event
from oxbot.remote.codec import ProtocolError, StatusReport, StatusRequest, decode, encode
from oxbot.remote.paths import MAX_SOCKET_PATH
from oxbot.remote.paths import socket_path_for as socket_path_for  # the CLI's import path

log = logging.getLogger(__name__)

# One line may carry a whole snapshot of many bots: far above asyncio's 64 KiB default.
LINE_LIMIT = 16 * 1024 * 1024
# A client whose unread output passes this is not reading at all: it is disconnected.
MAX_CLIENT_BACKLOG = 32 * 1024 * 1024


class ControlSocketError(OxbotError):
    """The control socket cannot be opened (another engine owns it, bad path or permissions)."""


class ControlledEngine(Protocol):
    """What the control server needs from the engine."""

    bus: EventBus

    def submit(self, command: Command) -> None: ...

    def snapshot(self) -> EngineSnapshot: ...

    def status_summary(self) -> dict[str, Any]: ...


class ControlServer:
    """Serves the control socket at ``path`` for ``engine`` on the engine's running loop."""

    def __init__(self, engine: ControlledEngine, path: Path, *, queue_size: int = 2000) -> None:
        self.engine = engine
        self.path = path
        self.queue_size = queue_size
        self._server: asyncio.Server | None = None
        self._inode: int | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def clients(self) -> int:
        """How many clients are connected now."""
        return len(self._writers)

    async def start(self) -> None:
        """Bind and listen. ControlSocketError when another live engine answers on the path."""
        if len(os.fsencode(self.path)) >= MAX_SOCKET_PATH:
            raise ControlSocketError(
                f"control socket path {self.path} is too long for a Unix socket "
                f"(max {MAX_SOCKET_PATH - 1} bytes); use a shorter runtime directory"
            )
        _prepare_directory(self.path.parent)
        await self._clear_stale()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(str(self.path))
            # Nobody can connect before listen(), so tightening the mode here leaves no window.
            os.chmod(self.path, 0o600)
            self._inode = os.stat(self.path).st_ino
            self._server = await asyncio.start_unix_server(self._serve, sock=sock, limit=LINE_LIMIT)
        except OSError as e:
            sock.close()
            raise ControlSocketError(f"cannot open the control socket {self.path}: {e}") from e
        log.info("control socket listening on %s", self.path)

    async def close(self) -> None:
        """Disconnect every client, stop listening and remove the socket file."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            # abort, not close: a stalled client's unsent backlog must not hold the engine up.
            writer.transport.abort()
        if self._tasks:
            # Each connection ends on its own once its reader sees EOF; cancelling the task
            # instead makes asyncio (3.12) log a spurious CancelledError traceback.
            _, pending = await asyncio.wait(list(self._tasks), timeout=5.0)
            for task in pending:
                task.cancel()
        if server is not None:
            await server.wait_closed()
        self._remove_socket_file()

    # ----------------------------------------------------------------------- set-up

    async def _clear_stale(self) -> None:
        """Remove a socket left by a dead engine; refuse when a live one answers on it."""
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(st.st_mode):
            raise ControlSocketError(
                f"{self.path} exists and is not a socket; move it away and start again"
            )
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_unix_connection(str(self.path)), timeout=2.0
            )
        except (ConnectionRefusedError, FileNotFoundError, TimeoutError):
            log.info("removing the stale control socket %s", self.path)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            return
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        raise ControlSocketError(
            f"another oxbot engine is already running on this database (control socket "
            f"{self.path}); use `oxbot attach`, or `oxbot stop` it first"
        )

    def _remove_socket_file(self) -> None:
        # Only our own file: a newer engine may already have replaced it.
        try:
            if self._inode is not None and os.stat(self.path).st_ino == self._inode:
                os.unlink(self.path)
        except FileNotFoundError:
            pass
        self._inode = None

    # ----------------------------------------------------------------------- per connection

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        self._writers.add(writer)
        # Subscribe before taking the snapshot: no event can fall between the two.
        sub = self.engine.bus.subscribe(maxsize=self.queue_size)
        pump = asyncio.create_task(self._pump(sub, writer), name="control-pump")
        try:
            await self._read_commands(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await pump
            sub.close()
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await writer.wait_closed()
            self._tasks.discard(task)  # type: ignore[arg-type]

    async def _pump(self, sub: Subscription, writer: asyncio.StreamWriter) -> None:
        """Snapshot first, then the subscription's events; resync after a drop."""
        seen_dropped = 0
        event: Event = self.engine.snapshot()
        while True:
            try:
                writer.write(encode(event).encode())
            except ValueError:  # an event carrying a value JSON cannot hold: skip just that one
                log.exception("cannot send %s to a control client", type(event).__name__)
            await writer.drain()
            event = await sub.get()
            if sub.dropped != seen_dropped:
                # The client fell behind and lost events: whatever is queued is a partial story,
                # so throw it away and send the whole current picture instead.
                log.warning(
                    "control client too slow: %d events dropped; resyncing",
                    sub.dropped - seen_dropped,
                )
                seen_dropped = sub.dropped
                while not sub.queue.empty():
                    sub.queue.get_nowait()
                event = self.engine.snapshot()

    async def _read_commands(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while True:
            try:
                line = await _read_line(reader)
            except LineTooLong:  # discarded whole, up to its newline: no tail is read as a line
                self._reply(writer, ProtocolError(message="line too long; ignored"))
                continue
            if not line:
                return
            if not line.strip():
                continue
            try:
                msg = decode(line)
            except ValueError as e:
                self._reply(writer, ProtocolError(message=f"bad message: {e}"))
                continue
            if isinstance(msg, StatusRequest):
                self._answer_status(writer, msg.request_id)
            elif isinstance(msg, Command):
                try:
                    self.engine.submit(msg)
                except Exception as e:  # the engine's bug must not end this connection
                    log.exception("engine.submit failed for %s", type(msg).__name__)
                    self._reply(writer, ProtocolError(message=f"command failed: {e}"))
                # readline() does not yield while whole lines are buffered: without this, a burst
                # of commands would starve this client's own event pump and every other task.
                await asyncio.sleep(0)
            else:
                self._reply(
                    writer,
                    ProtocolError(
                        message=f"{type(msg).__name__} is an event; clients send commands"
                    ),
                )

    def _answer_status(self, writer: asyncio.StreamWriter, request_id: str) -> None:
        """The status report, or an error line at once when the engine cannot give one (its
        summary raised, or holds a value the protocol cannot carry): a client waiting for
        the report must hear why, not wait for its timeout."""
        try:
            line = encode(StatusReport(request_id=request_id, summary=self.engine.status_summary()))
            decode(line)  # what the client will read: serialising alone lets a nested value by
        except Exception as e:  # noqa: BLE001 - the engine's bug must not end this connection
            log.exception("cannot answer a status request")
            self._reply(writer, ProtocolError(message=f"status failed: {e}"))
            return
        self._write(writer, line)

    def _reply(self, writer: asyncio.StreamWriter, event: Event) -> None:
        self._write(writer, encode(event))

    def _write(self, writer: asyncio.StreamWriter, line: str) -> None:
        if writer.is_closing():
            return
        transport = writer.transport
        if transport.get_write_buffer_size() > MAX_CLIENT_BACKLOG:
            log.warning("control client is not reading its replies; disconnecting it")
            writer.close()
            return
        writer.write(line.encode())


def _prepare_directory(directory: Path) -> None:
    """Create the socket's directory owner-only, and refuse one another user controls."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = os.stat(directory)
    if st.st_uid != os.getuid():
        raise ControlSocketError(
            f"the control socket directory {directory} belongs to another user; "
            "remove it or set a runtime directory of your own"
        )
    if st.st_mode & 0o077:
        os.chmod(directory, 0o700)


class LineTooLong(Exception):
    """A client's line was longer than LINE_LIMIT; all of it has been read and dropped."""


async def _read_line(reader: asyncio.StreamReader) -> bytes:
    """The next line (b"" at the end of the stream). A line longer than the reader's limit is
    read to its newline and dropped, then LineTooLong: asyncio's readline() would drop only
    what it had buffered and hand the rest of the line back as a line of its own, so the tail
    of an over-long line would run as a command."""
    try:
        return await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as e:  # the end of the stream, maybe after a last line
        return e.partial
    except asyncio.LimitOverrunError as e:
        scanned = e.consumed  # bytes buffered before the newline, or with no newline in them
    while True:
        try:
            await reader.readexactly(scanned)
            await reader.readuntil(b"\n")  # the rest of the line, through its newline
        except asyncio.IncompleteReadError:
            return b""  # the stream ended inside the over-long line
        except asyncio.LimitOverrunError as again:
            scanned = again.consumed
            continue
        raise LineTooLong
