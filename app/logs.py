"""Logging for the headless engine: plain lines (no ANSI escapes) or JSON lines for machines."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


class RepeatFilter(logging.Filter):
    """Drops a line that says exactly what another said within ``window_s``. A market or an
    exchange broker logs what it tells the user and publishes it as a Notice too, and the
    headless event logger logs every Notice: one thing, once."""

    def __init__(self, window_s: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.window_s = window_s
        self._clock = clock
        self._seen: dict[tuple[int, str], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        now = self._clock()
        key = (record.levelno, record.getMessage())
        last = self._seen.get(key)
        self._seen[key] = now
        if len(self._seen) > 512:  # forget old lines; only recent repeats matter
            self._seen = {k: t for k, t in self._seen.items() if now - t <= self.window_s}
        return last is None or now - last > self.window_s


def setup_logging(fmt: str = "plain", level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RepeatFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter(
                "%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"
            )
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiosqlite", "sqlalchemy", "asyncio", "httpx", "httpcore", "ccxt"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        from oxbot.storage.redact import install_redaction  # noqa: PLC0415

        install_redaction(root)
    except ImportError:  # pragma: no cover - redaction module missing in a partial install
        pass
