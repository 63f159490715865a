"""End-to-end fixtures: `oxbot` as a real subprocess in an isolated home.

Every test gets a short directory under /tmp (Unix socket paths must stay under ~100 bytes) used
as OXBOT_HOME, with the database inside it; no OXBOT_* variable or D-Bus session leaks in from
the developer's environment. ``home.cli(...)`` runs one command and ``home.spawn(...)`` starts a
long-running engine whose log (stderr) goes to a file the test can poll.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from waiting import wait_until

OXBOT = [sys.executable, "-m", "oxbot.cli.main"]
FILL_LINE = re.compile(r"^.*?(\S+): (buy|sell) \S+ \S+ @ ", re.M)


def base_env(root: Path, **extra: str) -> dict[str, str]:
    """The environment of every oxbot subprocess: isolated dirs, no inherited keys or D-Bus."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OXBOT_", "DBUS_", "PYTHON_KEYRING", "KEYRING_", "XDG_"))
    }
    for name in ("xdg-config", "xdg-data", "xdg-run"):
        (root / name).mkdir(exist_ok=True, mode=0o700)
    env.update(
        OXBOT_HOME=str(root),
        PYTHONUNBUFFERED="1",
        PYTHONIOENCODING="utf-8",
        XDG_CONFIG_HOME=str(root / "xdg-config"),
        XDG_DATA_HOME=str(root / "xdg-data"),
        XDG_RUNTIME_DIR=str(root / "xdg-run"),
        TERM="dumb",
        NO_COLOR="1",
    )
    env.update(extra)
    return env


def file_hash(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


class Engine:
    """A running `oxbot ... run --headless` subprocess; its stderr is the log file."""

    def __init__(self, home: Home, args: list[str], log: Path, env: dict[str, str]) -> None:
        self.home = home
        self.log = log
        self._log_file = log.open("wb")
        self.proc = subprocess.Popen(
            [*OXBOT, "--db", str(home.db), *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def text(self) -> str:
        return self.log.read_bytes().decode("utf-8", "replace")

    def wait_log(self, pattern: str, timeout: float = 20.0, after: int = 0) -> re.Match[str]:
        """The first match of ``pattern`` in the log past offset ``after`` (characters)."""
        found = re.compile(pattern, re.M)

        def match() -> re.Match[str] | None:
            hit = found.search(self.text(), after)
            if hit is None:
                self._alive(f"{pattern!r} appeared")
            return hit

        return wait_until(
            match,
            timeout,
            f"{pattern!r} in the log",
            every=0.05,
            detail=lambda: self.text()[-3000:],
        )

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Until the control socket answers a status request."""
        from oxbot.remote.client import engine_running

        def ready() -> bool:
            if engine_running(self.home.socket):
                return True
            self._alive("its socket was ready")
            return False

        wait_until(
            ready,
            timeout,
            "the control socket to answer",
            every=0.05,
            detail=lambda: self.text()[-3000:],
        )

    def _alive(self, before: str) -> None:
        """Fail at once, not at the timeout, when the engine has exited."""
        if self.proc.poll() is not None:
            raise AssertionError(
                f"engine exited ({self.proc.returncode}) before {before}; "
                f"log:\n{self.text()[-3000:]}"
            )

    def status(self) -> dict[str, Any]:
        """The engine's status summary, straight from the socket (fast, in-process)."""
        from oxbot.remote.client import request_status

        return request_status(self.home.socket, timeout=5.0)

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def terminate(self, timeout: float = 5.0) -> tuple[int, float]:
        """SIGTERM; (exit code, seconds until exit). Fails the test past ``timeout``."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"engine still running {timeout}s after SIGTERM; log:\n{self.text()[-3000:]}"
            ) from None
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self._log_file.close()

    def close(self) -> None:
        self.kill()


class Home:
    """An isolated OXBOT_HOME with a database in it: a file, or a PostgreSQL database (``url``,
    for the tests marked both_backends; tests/support/postgres.py)."""

    def __init__(self, root: Path, url: str | None = None) -> None:
        from oxbot.storage.paths import DbUrl

        self.root = root
        self.db: Any = root / "e2e.db" if url is None else DbUrl(url)
        self.env = base_env(root)
        self.engines: list[Engine] = []
        self._logs = 0

    @property
    def socket(self) -> Path:
        from oxbot.remote.paths import engine_socket

        # a PostgreSQL database: the one engine of it answering in this home (per engine)
        return engine_socket(self.db.resolve(), self.root / "run")

    def cli(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 60, db: bool = True
    ) -> subprocess.CompletedProcess[str]:
        argv = [*OXBOT, *(["--db", str(self.db)] if db else []), *args]
        return subprocess.run(
            argv,
            env=env or self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def ok(self, *args: str, env: dict[str, str] | None = None) -> str:
        """Run a command that must succeed; its stdout."""
        r = self.cli(*args, env=env)
        assert r.returncode == 0, f"oxbot {' '.join(args)} -> {r.returncode}\n{r.stderr}"
        assert "Traceback" not in r.stderr, r.stderr
        return r.stdout

    def spawn(self, *args: str, env: dict[str, str] | None = None) -> Engine:
        self._logs += 1
        engine = Engine(self, list(args), self.root / f"engine{self._logs}.log", env or self.env)
        self.engines.append(engine)
        return engine

    def add_bot(self, name: str, *args: str) -> None:
        self.ok("bots", "add", name, *args)

    @property
    def sqlite(self) -> bool:
        return isinstance(self.db, Path)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` on the database (only call when no engine writes to it)."""
        if not self.sqlite:
            import asyncio

            from postgres import raw_rows

            return asyncio.run(raw_rows(str(self.db), sql))
        con = sqlite3.connect(self.db)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()

    def close(self) -> None:
        for engine in self.engines:
            engine.close()


@pytest.fixture
def home(request: pytest.FixtureRequest, backend: str) -> Iterator[Home]:
    root = Path(tempfile.mkdtemp(prefix="oxe2e-", dir="/tmp"))
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    h = Home(root, url)
    try:
        yield h
    finally:
        h.close()
        shutil.rmtree(root, ignore_errors=True)


# ------------------------------------------------------------------------- the ledger


FAST_BOTS: tuple[tuple[str, ...], ...] = (
    (
        "e-sma",
        "--strategy",
        "sma_cross",
        "--param",
        "fast=2",
        "--param",
        "slow=5",
        "--symbols",
        "BTC/USDT,ETH/USDT",
        "--stop-loss-pct",
        "0.3",
        "--take-profit-pct",
        "0.5",
    ),
    (
        "e-rsi",
        "--strategy",
        "rsi_reversion",
        "--param",
        "length=3",
        "--param",
        "oversold=40",
        "--param",
        "overbought=60",
        "--symbols",
        "SOL/USDT",
        "--stop-loss-pct",
        "0.3",
        "--take-profit-pct",
        "0.5",
    ),
)


def ledger(home: Home) -> dict[str, dict[str, Any]]:
    """Per live bot, recomputed from the fills table alone with Decimal from the TEXT columns:
    cash = capital - sum(buy qty*price + fee) + sum(sell qty*price - fee), and qty per symbol."""
    out: dict[str, dict[str, Any]] = {}
    for bot_id, name, config in home.query("SELECT id, name, config FROM bots WHERE NOT deleted"):
        cash = Decimal(json.loads(config)["capital"])
        qty: dict[str, Decimal] = {}
        for side, symbol, q, price, fee in home.query(
            f"SELECT side, symbol, qty, price, fee FROM fills WHERE bot_id={bot_id} "
            "ORDER BY ts, seq"
        ):
            q, price, fee = Decimal(q), Decimal(price), Decimal(fee)
            if side == "buy":
                cash -= q * price + fee
                qty[symbol] = qty.get(symbol, Decimal(0)) + q
            else:
                cash += q * price - fee
                qty[symbol] = qty.get(symbol, Decimal(0)) - q
        out[name] = {"id": bot_id, "cash": cash, "qty": {s: v for s, v in qty.items() if v}}
    return out


@pytest.fixture
def fast_bots() -> tuple[tuple[str, ...], ...]:
    """`oxbot bots add` arguments of bots that trade often on sim (tight SL/TP, short windows)."""
    return FAST_BOTS


@pytest.fixture
def ledger_of() -> Any:
    """``ledger_of(home)``: the ledger recomputed from the fills table (see ``ledger``)."""
    return ledger
