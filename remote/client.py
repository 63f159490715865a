"""The client side of the control socket: `SocketClient` for an attached TUI, and the blocking
helpers behind `oxbot status`, `oxbot stop` and the "is an engine running?" check.

`SocketClient` runs its own asyncio loop on a background thread: events are decoded and handed to
the listener on that thread (front ends marshal them to theirs), `submit` only schedules a write
and never blocks, and `stop` disconnects without touching the engine, which keeps trading.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from oxbot.engine.errors import OxbotError
from oxbot.remote.paths import answers

if TYPE_CHECKING:
    from oxbot.engine.client import EventListener
    from oxbot.engine.messages import Command, EngineSnapshot, Event
    from oxbot.remote.codec import Message

# The engine's messages and their codec (pydantic) load where a message is first built or read:
# the cockpit asks `engine_running` and reads DISCONNECTED before its first frame, and hosts its
# own engine more often than it attaches to one.

log = logging.getLogger(__name__)

DISCONNECTED = "disconnected"  # EngineStateChanged.state when the socket closes under us


class EngineNotRunning(OxbotError):
    """No engine answers on the control socket."""

    def __init__(self, path: Path, db: Path | None = None) -> None:
        where = f"for DB {db} (socket {path})" if db is not None else f"on socket {path}"
        super().__init__(
            f"no oxbot engine is running {where}; start one with `oxbot run --headless`"
        )
        self.path = path
        self.db = db


class SocketClient:
    """EngineClient for an engine in another process, over its control socket."""

    def __init__(self, path: Path, *, db: Path | None = None, connect_timeout: float = 3.0) -> None:
        self.path = path
        self.db = db
        self.connect_timeout = connect_timeout
        self._listener: EventListener | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._closed = False
        self._outbox: list[bytes] = []

    @property
    def attached(self) -> bool:
        """Always True: quitting the front end leaves the engine running."""
        return True

    @property
    def connected(self) -> bool:
        """True while the socket to the engine is open."""
        return self._writer is not None and not self._writer.is_closing()

    def start(self, listener: EventListener) -> None:
        """Connect and deliver every event to ``listener`` (on the client's thread).

        Returns once connected; the first event delivered is the engine's EngineSnapshot.
        Raises EngineNotRunning when nothing answers on the socket.
        """
        if self._thread is not None:
            raise RuntimeError("SocketClient.start() was already called")
        self._listener = listener
        self._thread = threading.Thread(target=self._run, name="oxbot-socket-client", daemon=True)
        self._thread.start()
        if not self._ready.wait(self.connect_timeout + 2.0):
            self.stop(timeout=1.0)
            raise OxbotError(f"timed out connecting to the engine at {self.path}")
        if self._error is not None:
            self._thread.join(timeout=2.0)
            raise self._error

    def submit(self, command: Command) -> None:
        """Queue ``command`` for the engine; never blocks, safe from any thread.

        When the connection is gone, a failed CommandDone for it reaches the listener instead.
        """
        loop = self._loop
        if loop is None or self._closed:
            log.warning("%s dropped: the socket client is not running", type(command).__name__)
            return
        with contextlib.suppress(RuntimeError):  # the loop closed under us: stop() raced us
            loop.call_soon_threadsafe(self._send, command)

    def stop(self, timeout: float = 10.0) -> None:
        """Disconnect; the engine and its bots keep running. Idempotent."""
        if self._closed:
            return
        self._closed = True
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    # ----------------------------------------------------------------------- client thread

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._main(loop))
        finally:
            loop.close()

    async def _main(self, loop: asyncio.AbstractEventLoop) -> None:
        from oxbot.engine.messages import EngineStateChanged  # noqa: PLC0415
        from oxbot.remote.server import LINE_LIMIT  # noqa: PLC0415

        self._stopping = asyncio.Event()
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_unix_connection(str(self.path), limit=LINE_LIMIT),
                timeout=self.connect_timeout,
            )
        except (FileNotFoundError, ConnectionRefusedError):
            self._error = EngineNotRunning(self.path, self.db)
        except (OSError, TimeoutError) as e:
            self._error = OxbotError(f"cannot connect to the engine at {self.path}: {e}")
        if self._error is not None:
            self._ready.set()
            return
        self._writer = writer
        self._loop = loop  # published last: submit() only schedules once the writer exists
        self._ready.set()
        reading = asyncio.create_task(self._read(reader))
        stopping = asyncio.create_task(self._stopping.wait())
        await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if reading.done() and not self._stopping.is_set():
            self._writer = None
            writer.close()
            self._deliver(
                EngineStateChanged(
                    state=DISCONNECTED,
                    message=f"lost the connection to the engine (socket {self.path})",
                )
            )
            await stopping  # stay alive so late submits still get their failed CommandDone
        reading.cancel()
        stopping.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reading
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        self._writer = None

    async def _read(self, reader: asyncio.StreamReader) -> None:
        from oxbot.engine.messages import Event, Notice  # noqa: PLC0415
        from oxbot.remote.codec import ProtocolError, StatusReport, decode  # noqa: PLC0415

        while True:
            try:
                line = await reader.readline()
            except (ConnectionError, ValueError) as e:
                log.warning("control socket read failed: %s", e)
                return
            if not line:
                return
            try:
                msg = decode(line)
            except ValueError as e:  # a newer engine may speak messages we don't know
                log.warning("ignored a line from the engine: %s", e)
                continue
            if isinstance(msg, ProtocolError):
                self._deliver(
                    Notice(
                        ts=msg.ts,
                        level="error",
                        message=f"the engine refused a message: {msg.message}",
                    )
                )
            elif isinstance(msg, Event) and not isinstance(msg, StatusReport):
                self._deliver(msg)

    def _send(self, command: Command) -> None:
        from oxbot.engine.messages import CommandDone  # noqa: PLC0415
        from oxbot.remote.codec import encode  # noqa: PLC0415

        writer = self._writer
        if writer is None or writer.is_closing():
            self._deliver(
                CommandDone(
                    request_id=command.request_id,
                    command=type(command).__name__,
                    ok=False,
                    message="not connected to the engine; it may have stopped",
                )
            )
            return
        self._outbox.append(encode(command).encode())
        if len(self._outbox) == 1:
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        # One write per loop pass: asyncio's transport buffer is a list of chunks whose size is
        # summed on every write, so thousands of tiny writes would cost quadratic time.
        data, self._outbox = b"".join(self._outbox), []
        writer = self._writer
        if writer is not None and not writer.is_closing():
            writer.write(data)

    def _deliver(self, event: Event) -> None:
        if self._listener is None:
            return
        try:
            self._listener(event)
        except Exception:  # a front end's bug must not end the connection
            log.exception("event listener failed on %s", type(event).__name__)


# --------------------------------------------------------------------------- blocking helpers


def engine_running(path: Path, timeout: float = 1.0) -> bool:
    """True when an engine answers on the control socket at ``path``."""
    return answers(path, timeout)


def request_status(path: Path, timeout: float = 3.0, *, db: Path | None = None) -> dict:
    """The running engine's status summary (uptime, bots, cycles, trades, equity, errors, db)."""
    request_id = uuid.uuid4().hex
    with _connect(path, timeout, db) as sock:
        # after the connection: no engine, no codec (it builds engine/messages.py's types)
        from oxbot.remote.codec import (  # noqa: PLC0415
            ProtocolError,
            StatusReport,
            StatusRequest,
            encode,
        )

        sock.sendall(encode(StatusRequest(request_id=request_id)).encode())
        try:
            for msg in _messages(sock, time.monotonic() + timeout, path):
                if isinstance(msg, StatusReport) and msg.request_id == request_id:
                    return msg.summary
                if isinstance(msg, ProtocolError):
                    raise OxbotError(
                        f"the engine at {path} refused the status request: {msg.message}"
                    )
        except TimeoutError:
            raise OxbotError(
                f"the engine at {path} did not report its status within {timeout:g} s; "
                "it may be overloaded or stuck"
            ) from None
    raise OxbotError(f"the engine at {path} closed the connection before reporting its status")


def request_snapshot(path: Path, timeout: float = 5.0, *, db: Path | None = None) -> EngineSnapshot:
    """The running engine's whole picture (every bot's view and open position): the first
    message the control server sends a new connection (remote/server.py ``_pump``)."""
    from oxbot.engine.messages import EngineSnapshot  # noqa: PLC0415

    with _connect(path, timeout, db) as sock:
        try:
            for msg in _messages(sock, time.monotonic() + timeout, path):
                if isinstance(msg, EngineSnapshot):
                    return msg
        except TimeoutError:
            raise OxbotError(
                f"the engine at {path} did not send its snapshot within {timeout:g} s; "
                "it may be overloaded or stuck"
            ) from None
    raise OxbotError(f"the engine at {path} closed the connection before its snapshot")


def request_stop(path: Path, timeout: float = 10.0, *, db: Path | None = None) -> bool:
    """Ask the engine to stop gracefully; True once it has closed its socket within ``timeout``.

    False means it is still stopping (or stuck) when the time is up.
    """
    from oxbot.engine.messages import CommandDone, Shutdown  # noqa: PLC0415
    from oxbot.remote.codec import encode  # noqa: PLC0415

    request_id = uuid.uuid4().hex
    with _connect(path, timeout, db) as sock:
        sock.sendall(encode(Shutdown(request_id=request_id)).encode())
        try:
            for msg in _messages(sock, time.monotonic() + timeout, path):
                if isinstance(msg, CommandDone) and msg.request_id == request_id and not msg.ok:
                    raise OxbotError(f"the engine refused to stop: {msg.message}")
        except TimeoutError:
            return False
    return True


def _connect(path: Path, timeout: float, db: Path | None) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        raise EngineNotRunning(path, db) from None
    except PermissionError:
        sock.close()
        raise OxbotError(
            f"permission denied on the control socket {path}: it belongs to "
            "another user; run oxbot as that user"
        ) from None
    except OSError as e:
        sock.close()
        raise OxbotError(f"cannot connect to the engine at {path}: {e}") from None
    return sock


def _messages(sock: socket.socket, deadline: float, path: Path) -> Iterator[Message]:
    """Decoded messages from ``sock`` until it closes; TimeoutError past ``deadline``."""
    from oxbot.remote.codec import decode  # noqa: PLC0415

    buffer = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"the engine at {path} did not answer in time")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return
        except TimeoutError:
            raise TimeoutError(f"the engine at {path} did not answer in time") from None
        if not chunk:
            return
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if line.strip():
                with contextlib.suppress(ValueError):  # lines of a newer engine: skip
                    yield decode(line)
