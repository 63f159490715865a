"""InProcessClient: the engine on its own asyncio loop in a dedicated thread of this process.

The UI thread never awaits anything of the engine's: `submit` hands a command to the engine loop
with `call_soon_threadsafe`, and events come back through the listener, called on the engine
thread (the Textual app marshals them with `post_message`, which is thread-safe).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from oxbot.engine.foreground import Foreground

if TYPE_CHECKING:  # the engine's modules load on its own thread, in the factory
    from oxbot.engine.client import EventListener
    from oxbot.engine.engine import Engine
    from oxbot.engine.messages import Command

EngineFactory = Callable[[], Awaitable["Engine"]]


class InProcessClient:
    """``fatal_start``: the cockpit opens this client when its dashboard is up (`start`), not
    before; an engine that fails to start then closes the cockpit, and the caller reports
    `start_error` on the restored terminal (cli/tui.py)."""

    def __init__(self, factory: EngineFactory, *, fatal_start: bool = False) -> None:
        self._factory = factory
        self.fatal_start = fatal_start
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.engine: Engine | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._pending: list[Command] = []
        self._listener: EventListener | None = None
        self._lock = threading.Lock()
        # the UI marks itself busy while it draws; a max-speed replay naps meanwhile
        self.foreground = Foreground()

    @property
    def attached(self) -> bool:
        return False

    @property
    def start_error(self) -> BaseException | None:
        """Why the engine did not start (None: it started, or was never asked to)."""
        return self._error

    def open(self, timeout: float = 30.0) -> None:
        """Start the engine thread and wait until the engine runs; re-raise a startup failure
        (database locked, schema too new, ...) so the caller can print it before any UI."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._main, name="oxbot-engine", daemon=True)
            self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"the engine did not start within {timeout:.0f} s")
        if self._error is not None:
            raise self._error

    def start(self, listener: EventListener) -> None:
        self.open()
        assert self._loop is not None and self.engine is not None
        engine = self.engine

        def attach() -> None:
            engine.bus.listen(listener)
            listener(engine.snapshot())  # the first event a client sees

        self._loop.call_soon_threadsafe(attach)
        with self._lock:
            self._listener = listener
            pending, self._pending = self._pending, []
        for cmd in pending:
            self.submit(cmd)

    def submit(self, command: Command) -> None:
        with self._lock:
            if self._loop is None or self.engine is None:
                self._pending.append(command)
                return
        try:
            self._loop.call_soon_threadsafe(self.engine.submit, command)
        except RuntimeError:  # loop closed: the engine already stopped
            pass

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the engine cleanly (bots' state persisted) and wait for its thread."""
        if self._thread is None:
            return
        self._ready.wait(timeout)  # still starting (a cockpit quit at once): let it finish
        if self._loop is not None and self.engine is not None and self._loop.is_running():
            from oxbot.engine.messages import Shutdown  # noqa: PLC0415 - loaded by the engine

            try:
                self._loop.call_soon_threadsafe(self.engine.submit, Shutdown())
            except RuntimeError:
                pass
        self._thread.join(timeout)

    # ------------------------------------------------------------------ engine thread

    def _main(self) -> None:
        try:
            asyncio.run(self._amain())
        except BaseException as e:  # noqa: BLE001 - reported to the opener / listener
            if not self._ready.is_set():
                self._error = e
                self._ready.set()
            elif self._listener is not None:
                from oxbot.engine.messages import EngineError  # noqa: PLC0415

                self._listener(EngineError(0, f"engine crashed: {type(e).__name__}: {e}"))

    async def _amain(self) -> None:
        engine = await self._factory()
        engine.hub.foreground = self.foreground
        store: Any = engine.store
        try:
            run = asyncio.create_task(engine.run())
            ready = asyncio.create_task(engine.ready.wait())
            await asyncio.wait({run, ready}, return_when=asyncio.FIRST_COMPLETED)
            if run.done():
                run.result()  # startup failed: raise it
            with self._lock:
                self._loop = asyncio.get_running_loop()
                self.engine = engine
            self._ready.set()
            await run
        finally:
            await store.close()
