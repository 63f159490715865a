"""A real PostgreSQL server for the tests: initdb + pg_ctl in a temporary folder, on a free port.

``pg_server`` (session scope, one server per pytest-xdist worker) starts it and stops it at the
end; ``pg_url`` gives each test a fresh, empty database. Without the server binaries the tests
that ask for them are SKIPPED, saying so (install Debian's ``postgresql``; .ci/run does).

What the fixture relies on, from the PostgreSQL 15 documentation:
- initdb refuses to run as root ("initdb: error: cannot be run as root"): as root it runs as the
  ``postgres`` system user (Debian's package creates it) on a folder that user owns;
- ``pg_ctl start -w`` waits until the server accepts connections; ``-o`` passes server options
  (``-p`` port, ``-k`` socket folder, ``-c`` settings); ``pg_ctl stop -m immediate`` stops it;
- pg_hba.conf lines are matched first to last: the role ``oxbot_pw`` must give its password
  (scram-sha-256, the default password_encryption of 15), every other local role is trusted.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SUPERUSER = "oxbot"
PASSWORD_ROLE = "oxbot_pw"
PASSWORD = "pg-test-password-0d1e2f"  # a throwaway, for a throwaway server


def find_bin() -> Path | None:
    """The folder holding initdb and pg_ctl: $PATH first, then Debian's versioned folders."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent  # Debian links initdb, not psql, into $PATH
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    bin: Path
    root: Path
    port: int
    as_user: list[str]
    _names: Iterator[int] = itertools.count()

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def sockets(self) -> Path:
        return self.root / "run"

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.as_user, *args], capture_output=True, text=True, check=check, timeout=60
        )

    def psql(self, sql: str, db: str = "postgres") -> str:
        out = self.run(
            str(self.bin / "psql"),
            "-X",
            "-q",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            str(self.sockets),
            "-p",
            str(self.port),
            "-U",
            SUPERUSER,
            "-d",
            db,
            "-c",
            sql,
        )
        return out.stdout.strip()

    def new_database(self) -> str:
        name = f"t{os.getpid()}_{next(self._names)}"
        self.psql(f"CREATE DATABASE {name} OWNER {PASSWORD_ROLE}")
        return name

    def url(self, db: str, user: str = SUPERUSER) -> str:
        return f"postgresql+asyncpg://{user}@127.0.0.1:{self.port}/{db}"

    def stop(self) -> None:
        self.run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop", check=False
        )


def start_server() -> PgServer:
    """Start a throwaway server; pytest.skip when the binaries are missing."""
    folder = find_bin()
    if folder is None:
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl) not found in $PATH or "
            "/usr/lib/postgresql/*/bin: install Debian's postgresql to run these tests"
        )
    root = Path(tempfile.mkdtemp(prefix="oxbot-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    server = PgServer(folder, root, free_port(), as_user)
    server.run("mkdir", "-p", str(server.sockets))
    server.run(
        str(folder / "initdb"),
        "-D",
        str(server.data),
        "-U",
        SUPERUSER,
        "--auth=trust",
        "-E",
        "UTF8",
        "--no-sync",
    )
    hba = server.data / "pg_hba.conf"
    lines = (
        f"host all {PASSWORD_ROLE} 127.0.0.1/32 scram-sha-256\n"
        "local all all trust\nhost all all 127.0.0.1/32 trust\n"
    )
    server.run("sh", "-c", f"printf '%s' '{lines}' > {hba}")
    # fsync off: a test server that is never crashed itself (the engines are) needs no
    # durability, and CI time is short. The bench starts its own server with the defaults.
    for attempt in range(3):  # another worker may take the free port first: another port
        try:
            _start(server, folder, root)
            return server
        except subprocess.CalledProcessError:
            server.stop()
            if attempt == 2:
                shutil.rmtree(root, ignore_errors=True)
                raise
            server.port = free_port()
        except BaseException:
            server.stop()
            shutil.rmtree(root, ignore_errors=True)
            raise
    raise AssertionError("unreachable")


def _start(server: PgServer, folder: Path, root: Path) -> None:
    options = f"-p {server.port} -k {server.sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
    server.run(
        str(folder / "pg_ctl"),
        "-D",
        str(server.data),
        "-l",
        str(root / "server.log"),
        "-o",
        options,
        "-w",
        "start",
    )
    server.psql(f"CREATE ROLE {PASSWORD_ROLE} LOGIN PASSWORD '{PASSWORD}'")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = start_server()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """The URL of a fresh, empty database (the superuser role, trusted)."""
    return pg_server.url(pg_server.new_database())


# ---------------------------------------------------------------------- both backends

BACKENDS = ("sqlite", "postgresql")


def parametrize_backends(metafunc: pytest.Metafunc) -> None:
    """A test marked ``both_backends`` runs once per backend (its ``backend`` fixture)."""
    if metafunc.definition.get_closest_marker("both_backends") and (
        "backend" in metafunc.fixturenames
    ):
        metafunc.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """ "sqlite" unless the test is marked both_backends (then each in turn)."""
    return str(getattr(request, "param", "sqlite"))


def database(request: pytest.FixtureRequest, backend: str, path: Path) -> Path | str:
    """The --db of a test: ``path`` on SQLite, a fresh database's URL on PostgreSQL."""
    if backend == "postgresql":
        return str(request.getfixturevalue("pg_url"))
    return path


async def raw_rows(db: Path | str, sql: str) -> list[tuple[object, ...]]:
    """``sql`` on the database itself, beside the Store: sqlite3 for a file, asyncpg for a
    URL (write casts as ``::text`` to see what PostgreSQL stored)."""
    if isinstance(db, Path):
        import sqlite3

        with sqlite3.connect(db) as conn:
            return [tuple(r) for r in conn.execute(sql)]
    import asyncpg

    conn = await asyncpg.connect(db.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return [tuple(r) for r in await conn.fetch(sql)]
    finally:
        await conn.close()
