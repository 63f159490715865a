"""`oxbot doctor`: what a user checks first when something is off. It writes nothing; it reads
every page of a SQLite database (PRAGMA integrity_check) and exits 1 when the database is
damaged, the disk beside it is full, or Python is too old. A PostgreSQL database is checked by
cli/doctor_pg.py: reachable, oxbot's schema and version, the engines that use it."""

from __future__ import annotations

import argparse
import os
import platform
import sys
from collections.abc import Mapping
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check python, database, keyring and terminal")
    p.set_defaults(handler=run)


def _schema(path: Path) -> str:
    import sqlite3  # noqa: PLC0415 - doctor's own work; --help and --version skip it

    if not path.exists():
        return "not created yet (made on first run)"
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2)
        try:
            row = con.execute("SELECT version FROM schema_version").fetchone()
        finally:
            con.close()
    except sqlite3.DatabaseError as e:
        return f"unreadable ({_why(e, path)})"
    return f"schema version {row[0]}" if row else "no schema version"


def _why(e: BaseException, path: Path) -> str:
    from oxbot.storage.health import DAMAGED, classify, describe, first_sqlite_message  # noqa: PLC0415

    if classify(e, path) == DAMAGED:
        return f"damaged: {first_sqlite_message(e)}"
    return describe(e, path) or str(e)


def _integrity(path: Path) -> tuple[bool, str]:
    """(sound, what to print): every page read by SQLite's own PRAGMA integrity_check."""
    import sqlite3  # noqa: PLC0415

    from oxbot.storage.health import (  # noqa: PLC0415
        FULL,
        classify,
        first_sqlite_message,
        integrity_problems,
    )

    if not path.exists():
        return True, "nothing to check yet"
    try:
        problems = integrity_problems(path)
    except sqlite3.Error as e:
        if classify(e, path) == FULL:  # a full disk is not damage
            return False, f"not checked: {_why(e, path)}"
        return False, (
            f"DAMAGED ({first_sqlite_message(e)}); restore a backup, or start a new "
            "database with --db NEW.db"
        )
    if not problems:
        return True, "ok (every page checked)"
    more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
    return False, (
        f"DAMAGED: {problems[0]}{more}; restore a backup, or start a new database with --db NEW.db"
    )


def _disk(path: Path) -> tuple[bool, str]:
    from oxbot.storage.health import LOW_SPACE, free_bytes  # noqa: PLC0415

    free = free_bytes(path)
    if free is None:
        return True, "unknown"
    text = f"{free / 2**30:.1f} GiB free" if free >= 2**30 else f"{free // 1024} KiB free"
    if free < LOW_SPACE:
        return False, f"FULL: {text} beside {path}; free some space or nothing can be saved"
    return True, text


def colour_support() -> str:
    if os.environ.get("NO_COLOR"):
        return "disabled by NO_COLOR"
    colorterm = os.environ.get("COLORTERM", "").lower()
    term = os.environ.get("TERM", "")
    if colorterm in ("truecolor", "24bit"):
        depth = "truecolor (24-bit)"
    elif "256" in term:
        depth = "256 colours"
    elif term in ("", "dumb"):
        depth = "none (TERM is unset or dumb)"
    else:
        depth = "16 colours (the oxbot-contrast theme reads best)"
    tty = "a terminal" if sys.stdout.isatty() else "not a terminal"
    return f"{depth}; TERM={term or '-'}; stdout is {tty}" + fixed_size_warning(os.environ)


def fixed_size_warning(env: Mapping[str, str]) -> str:
    """COLUMNS / LINES exported in the shell pin the cockpit's size: Textual prefers them to the
    terminal's real size and ignores resizes (a tmux window at 120x40 drawn at 80x24)."""
    pinned = [f"{k}={env[k]}" for k in ("COLUMNS", "LINES") if env.get(k)]
    if not pinned:
        return ""
    return (
        f"; WARNING: {' '.join(pinned)} is exported, so oxbot draws at that size and "
        "ignores resizes; run `unset COLUMNS LINES` (or remove the export from your shell "
        "profile)"
    )


def run(args: argparse.Namespace) -> int:
    from oxbot.app import __version__  # noqa: PLC0415
    from oxbot.storage.paths import config_dir, resolve_db_path  # noqa: PLC0415

    db = resolve_db_path(args.db)
    ok = sys.version_info >= (3, 12)
    if isinstance(db, Path):
        sound, integrity = _integrity(db)
        roomy, disk = _disk(db)
        database = [("schema", _schema(db)), ("integrity", integrity), ("disk", disk)]
    else:  # a PostgreSQL URL: the server keeps its own pages and disk
        from oxbot.cli.doctor_pg import checks  # noqa: PLC0415

        sound, database = checks(str(db))
        roomy = True
    rows = [
        ("oxbot", __version__),
        (
            "python",
            f"{platform.python_version()} ({sys.executable})"
            + ("" if ok else " - oxbot needs Python 3.12 or newer"),
        ),
        ("database", str(db)),
        *database,
        ("config", str(config_dir())),
        ("keyring", _keyring()),
        ("terminal", colour_support()),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k.ljust(width)}  {v}")
    return 0 if ok and sound and roomy else 1


def _keyring() -> str:
    try:
        from oxbot.storage.secrets import backend_name  # noqa: PLC0415

        return backend_name()
    except Exception as e:  # noqa: BLE001 - doctor reports, never fails
        return f"unavailable: {e}"
