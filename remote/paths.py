"""Where an engine's control socket lives: path arithmetic, and which engines answer.

The cockpit asks it before its first frame (is an engine already running on this database?),
so it is kept apart from remote/server.py, which loads the engine's messages and their codec.

A SQLite file has one engine (its file lock), so one socket per database. A PostgreSQL database
may have several engines, on several hosts and on this one (README "PostgreSQL"): each engine's
socket name carries its engine name too (``--engine-name``, default the host name), so two
engines of one database on one host never take each other's socket; the commands that talk to
"the" engine find the ones of the database that answer and, when there are several, ask for
``--engine NAME`` (or $OXBOT_ENGINE).
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
from pathlib import Path

from oxbot.engine.errors import OxbotError

# Linux allows 108 bytes in sun_path, macOS 104; stay well under both.
MAX_SOCKET_PATH = 100
ENGINE_ENV = "OXBOT_ENGINE"  # which engine of a shared database the commands talk to
_NAME_MAX = 32  # an engine name's part of the socket name


class SeveralEngines(OxbotError):
    """More than one engine of the database answers on this host, and none was named."""


def socket_path_for(db_path: Path, runtime_dir: Path, engine: str | None = None) -> Path:
    """The control socket of the engine that owns ``db_path``: one socket per database, and
    per engine of it when ``engine`` (a name) is given (a PostgreSQL database: ``own_socket``).

    The name carries a hash of the resolved database path, so two databases never share a
    socket and every spelling of one path finds the same one. When ``runtime_dir`` is too deep
    for a Unix socket path, a per-user folder under /tmp is used instead.
    """
    name = f"{_stem(db_path)}-{engine_slug(engine)}.sock" if engine else f"{_stem(db_path)}.sock"
    path = runtime_dir / name
    if len(os.fsencode(path)) >= MAX_SOCKET_PATH:
        path = _fallback_dir() / name
    return path


def own_socket(db_path: Path, runtime_dir: Path, engine_name: str | None) -> Path:
    """The socket an engine named ``engine_name`` (None: the host name, as the engine's
    default) listens on: per engine for a PostgreSQL database, per database for a file."""
    if not is_shared(db_path):
        return socket_path_for(db_path, runtime_dir)
    return socket_path_for(db_path, runtime_dir, engine_name or socket.gethostname())


def engine_slug(name: str) -> str:
    """``name`` as it appears in a socket's name: letters, digits, ``._-``; a long one cut,
    with a hash of the whole so two long names stay apart."""
    slug = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    if len(slug) > _NAME_MAX:
        slug = slug[: _NAME_MAX - 9] + "-" + hashlib.sha256(name.encode()).hexdigest()[:8]
    return slug


def engines_here(db_path: Path, runtime_dir: Path) -> dict[str, Path]:
    """The engines of a PostgreSQL database that answer on this host: engine name (as in its
    socket's name) -> socket path; {} for a file or when none answers."""
    if not is_shared(db_path):
        return {}
    prefix = f"{_stem(db_path)}-"
    found: dict[str, Path] = {}
    for folder in (runtime_dir, _fallback_dir()):
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        for entry in names:
            if entry.startswith(prefix) and entry.endswith(".sock"):
                path = folder / entry
                if answers(path):
                    found.setdefault(entry[len(prefix) : -len(".sock")], path)
    return found


def engine_socket(db_path: Path, runtime_dir: Path, engine: str | None = None) -> Path:
    """The socket of the engine a command talks to. A file: its one socket. A PostgreSQL
    database: the engine named ``engine`` (else $OXBOT_ENGINE), else the one engine of the
    database answering on this host; SeveralEngines when several answer and none is named.
    When none answers, a path where none listens (the caller says no engine runs)."""
    if not is_shared(db_path):
        return socket_path_for(db_path, runtime_dir)
    engine = engine or os.environ.get(ENGINE_ENV) or None
    if engine:
        return socket_path_for(db_path, runtime_dir, engine)
    here = engines_here(db_path, runtime_dir)
    if len(here) == 1:
        return next(iter(here.values()))
    if len(here) > 1:
        raise SeveralEngines(
            f"{len(here)} engines of this database run on this host: {', '.join(sorted(here))}; "
            f"say which with --engine NAME (or ${ENGINE_ENV}=NAME)"
        )
    return socket_path_for(db_path, runtime_dir)


def _stem(db_path: Path) -> str:
    digest = hashlib.sha256(str(db_path.expanduser().resolve()).encode()).hexdigest()[:16]
    return f"engine-{digest}"


def _fallback_dir() -> Path:
    return Path("/tmp") / f"oxbot-{os.getuid()}"


def is_shared(db_path: Path) -> bool:
    """A PostgreSQL database (storage/paths.py ``DbUrl``): several engines may use it."""
    from oxbot.storage.paths import DbUrl  # noqa: PLC0415

    return isinstance(db_path, DbUrl)


def answers(path: Path, timeout: float = 1.0) -> bool:
    """An engine listens on ``path`` (a dead engine's file refuses the connection)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
    except OSError:
        return False
    finally:
        sock.close()
    return True
