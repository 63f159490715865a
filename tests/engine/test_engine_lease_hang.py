"""Issue 16 F5/F6: engine A's connection to PostgreSQL HANGS (no error, no reply: a frozen
network) in the middle of its renewal transaction, which has row-locked A's lease rows. A
small TCP proxy between A and the server stops passing bytes at that moment and keeps the
connections open. Then:
- B (direct) takes A's bots over within about the ttl: the server ends A's idle transaction
  (idle_in_transaction_session_timeout) and B's claims never wait for ever (lock_timeout);
- A, whose renewal never answers, halts its bots itself after the ttl and says so.
What the test relies on: the asyncpg driver sends a statement's text in the Parse message of
the extended query protocol the first time it prepares it (PostgreSQL 15 documentation, 55.2.3
"Extended Query"), so the first renewal's "UPDATE engines SET heartbeat_ms" is seen passing."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import make_url

from oxbot.engine.messages import EngineError
from oxbot.engine.models import BotStatus
from oxbot.storage.store import Store

from .conftest import Harness
from .test_engine_leases import TTL, engine_on, fast_bot, wait

FREEZE_ON = b"UPDATE engines SET heartbeat_ms"


class FreezingProxy:
    """127.0.0.1:``port`` -> the server; from the first client chunk holding ``freeze_on`` on,
    nothing passes either way on any connection, and none is closed."""

    def __init__(self, host: str, port: int, freeze_on: bytes) -> None:
        self.target = (host, port)
        self.freeze_on = freeze_on
        self.frozen = asyncio.Event()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection(*self.target)
        self._writers += [writer, up_w]
        await asyncio.gather(
            self._pipe(reader, up_w, True), self._pipe(up_r, writer, False), return_exceptions=True
        )

    async def _pipe(self, r: asyncio.StreamReader, w: asyncio.StreamWriter, up: bool) -> None:
        while data := await r.read(65536):
            if up and self.freeze_on in data:
                self.frozen.set()
            if not self.frozen.is_set():
                w.write(data)
                await w.drain()

    async def close(self) -> None:
        for w in self._writers:
            w.close()
        if self._server is not None:
            self._server.close()


@pytest.mark.slow
async def test_a_hung_engine_halts_its_bots_and_b_takes_them_over(pg_url: str) -> None:
    url = make_url(pg_url)
    proxy = FreezingProxy(str(url.host), int(url.port or 5432), FREEZE_ON)
    await proxy.start()
    setup = await Store.open(pg_url)
    for name in ("a1", "a2"):  # stored running: A claims and runs them at its start
        await setup.save_bot(fast_bot(name), BotStatus.RUNNING)
    await setup.close()
    store_a = await Store.open(url.set(port=proxy.port).render_as_string(hide_password=False))
    store_b = await Store.open(pg_url)
    a, b = engine_on(store_a, "A"), engine_on(store_b, "B")
    ha, hb = Harness(a), Harness(b)
    try:
        await ha.start()
        assert a.owned == {"a1", "a2"}
        await hb.start()

        # held by A: named, or "? (its lease row is locked)" when B's claim met the row locked
        # by A's write in flight past lock_timeout (seen under load)
        assert set(b.elsewhere) == {"a1", "a2"} and not b.owned, b.elsewhere
        assert all(v == "A" or "locked" in v for v in b.elsewhere.values()), b.elsewhere
        await asyncio.wait_for(proxy.frozen.wait(), TTL)  # A's first renewal, mid-transaction
        frozen = time.monotonic()

        async def a_halted() -> bool:
            said = [e.message for e in ha.of(EngineError)]
            return all(
                any(f"{n} halted: its lease could not be renewed" in m for m in said)
                for n in ("a1", "a2")
            )

        async def b_owns() -> bool:
            return {"a1", "a2"} <= b.owned

        margin = 2.0
        await wait(b_owns, TTL + TTL / 3 + margin, "B took a1 and a2 over", ha, hb)
        await wait(a_halted, TTL + TTL / 3 + margin - (time.monotonic() - frozen), "A said", ha)
        assert not ({"a1", "a2"} & a.owned)
    finally:
        await proxy.close()  # A's connections break: it can stop
        await ha.stop()
        await hb.stop()
        await store_a.close()
        await store_b.close()
