"""One writing engine per database: an OS file lock on ``<db>.lock``.

``flock`` locks belong to the open file description, so the kernel drops them when the holder
dies, even by SIGKILL; a stale lock file never blocks a restart. The file is never deleted
(deleting it would let two processes lock two different inodes); it only carries the holder's
pid for the error message.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

from oxbot.engine.errors import DatabaseLocked

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]  # no fcntl module: the lock is checked for None


def lock_path_for(db_path: Path | str) -> Path:
    """The lock file that guards ``db_path``: beside the REAL file (symlinks resolved), so two
    paths to one database (a symlink, another OXBOT_HOME pointing at it, ``..``) share one
    lock."""
    return Path(f"{Path(db_path).expanduser().resolve()}.lock")


class WriterLock:
    """A non-blocking exclusive lock; ``acquire`` raises DatabaseLocked when another holds it."""

    def __init__(self, db_path: Path | str) -> None:
        self.db_path = Path(db_path)
        self.path = lock_path_for(db_path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> WriterLock:
        """Take the lock or raise DatabaseLocked naming the holder's pid and the fixes."""
        if self._fd is not None:
            return self
        # os.open makes the fd non-inheritable, so child processes never keep the lock alive.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _lock(fd)
        except OSError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f"pid {holder}" if holder else "pid unknown"
            raise DatabaseLocked(
                f"another oxbot engine ({who}) is using {self.db_path}; stop it with "
                "`oxbot stop` or use --db to open another database"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Give the lock back (closing the fd releases it); safe to call twice."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)  # no stale pid for the next reader of the file
        finally:
            os.close(fd)

    close = release

    def __enter__(self) -> WriterLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _lock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    else:  # pragma: no cover - Windows
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None
