"""One engine per exchange key: an OS lock (fcntl) named by a hash of the key, never the key."""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path
from types import TracebackType

from .clients import key_fingerprint
from .errors import KeyInUse


def key_lock_dir() -> Path:
    """Where key locks live: one folder per OS user, the same whatever OXBOT_HOME, --db or
    TMPDIR an engine was started with (two engines with one key but two homes must meet)."""
    root = Path("/tmp") if Path("/tmp").is_dir() else Path(tempfile.gettempdir())
    mine = root / f"oxbot-{os.getuid()}"
    try:
        mine.mkdir(mode=0o700, exist_ok=True)
        if mine.stat().st_uid != os.getuid():  # someone else's folder: not a place for ours
            raise PermissionError(mine)
    except OSError:
        mine = Path.home() / ".cache" / "oxbot"
    return mine / "keylocks"


class ExchangeKeyLock:
    """Held while an engine trades with ``api_key`` on ``exchange_id``. The OS drops it when
    the process dies (even SIGKILL), so a crash never leaves a stale lock."""

    def __init__(self, directory: Path | str, exchange_id: str, api_key: str) -> None:
        self.path = Path(directory) / f"{exchange_id}-{key_fingerprint(api_key)}.lock"
        self.exchange_id = exchange_id
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise ``KeyInUse`` naming the holder's pid."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise KeyInUse(
                f"another oxbot engine (pid {holder}) already trades with this {self.exchange_id}"
                " key; stop it (`oxbot stop`) or use another key"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> ExchangeKeyLock:
        self.acquire()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
