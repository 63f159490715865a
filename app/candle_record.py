"""The candles of the built-in sim market, kept beside the database (``<db folder>/candles/
sim_<BASE>-<QUOTE>_<timeframe>.csv``, the candle cache's file names) as the engine makes them,
so a sim bot can be backtested (`oxbot backtest --bot`) and replayed (`oxbot replay`) on the very
candles it traded: nothing else can make them again (a restarted sim continues from its last
close on a new, rescaled series).

The engine's hub calls it (engine/market/hub.py ``CandleRecorder``): the warm-up history when a
stream opens, then every closed candle. Lines are buffered and flushed about once a second and
when the engine stops; a crash loses at most that second (the backtest then reads a gap). A
restarted sim continues at the ledger's last time on a new series scaled to the last close, and
its warm-up history overlaps candles already kept: those stay (the bots traded on them), only
newer ones are added; the new run's warm-up window is then not exactly the one its bots first
decided on (a backtest of their signals may differ there; a replay of their stored decisions
does not). Files grow by one
line per candle (a 1m stream: ~70 kB a day of market time; a max-speed replay makes market time
fast); delete them when not wanted.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import IO

from oxbot.engine.arrays import Floats, Times
from oxbot.engine.market.csvdata import HEADER
from oxbot.engine.models import Candle, StreamKey

FLUSH_S = 1.0


def sim_candles_dir(db: Path) -> Path:
    """Where the sim candles of the database ``db`` are kept."""
    return db.parent / "candles"


def file_name(exchange: str, symbol: str, timeframe: str) -> str:
    """``<exchange>_<BASE>-<QUOTE>_<timeframe>.csv``: the shared data sets' pattern."""
    return f"{exchange}_{symbol.replace('/', '-').replace(':', '-')}_{timeframe}.csv"


class _File:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.last_ts = _last_ts(path)
        self.fh: IO[str] | None = None

    def handle(self) -> IO[str]:
        if self.fh is None:
            _drop_torn_line(self.path)
            new = not self.path.exists() or self.path.stat().st_size == 0
            self.fh = self.path.open("a", encoding="utf-8", newline="")
            if new:
                self.fh.write(",".join(HEADER) + "\n")
        return self.fh

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None


class SimCandleRecorder:
    """Appends the sim streams' candles to CSV files in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._files: dict[str, _File] = {}
        self._flushed = time.monotonic()

    def _file(self, key: StreamKey) -> _File:
        name = file_name(key.exchange, key.symbol, key.timeframe)
        f = self._files.get(name)
        if f is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            f = self._files[name] = _File(self.folder / name)
        return f

    def history(self, key: StreamKey, ts: Times, ohlcv: Floats) -> None:
        if len(ts) == 0:
            return
        f = self._file(key)
        fh = f.handle()
        for t, row in zip(ts.tolist(), ohlcv.tolist(), strict=True):
            if f.last_ts is None or t > f.last_ts:
                fh.write(_line(int(t), *row))
                f.last_ts = int(t)
        self._maybe_flush()

    def add(self, key: StreamKey, candle: Candle) -> None:
        f = self._file(key)
        ts = int(candle.ts)
        if f.last_ts is not None and ts <= f.last_ts:
            return
        f.handle().write(
            _line(ts, candle.open, candle.high, candle.low, candle.close, candle.volume)
        )
        f.last_ts = ts
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        now = time.monotonic()
        if now - self._flushed >= FLUSH_S:
            self._flushed = now
            for f in self._files.values():
                if f.fh is not None:
                    f.fh.flush()

    def close(self) -> None:
        for f in self._files.values():
            f.close()


def _line(ts: int, o: float, h: float, lo: float, c: float, v: float) -> str:
    return f"{ts},{float(o)!r},{float(h)!r},{float(lo)!r},{float(c)!r},{float(v)!r}\n"


def _last_ts(path: Path) -> int | None:
    """The timestamp of the file's last complete line (None: no candle yet)."""
    if not path.exists():
        return None
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - 4096))
        tail = fh.read().decode("utf-8", errors="replace")
    for line in reversed(tail.splitlines()):
        head = line.split(",", 1)[0].strip()
        if head.isdigit():
            return int(head)
    return None


def _drop_torn_line(path: Path) -> None:
    """A line cut short by a crash is removed, so the next one starts on its own line."""
    if not path.exists():
        return
    with path.open("rb+") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        if size == 0:
            return
        fh.seek(max(0, size - 4096))
        tail = fh.read()
        if tail.endswith(b"\n"):
            return
        cut = tail.rfind(b"\n")
        fh.truncate(size - len(tail) + cut + 1 if cut >= 0 else 0)
