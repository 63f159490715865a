"""Where oxbot keeps its files. Import-cheap: only platformdirs, never SQLAlchemy.

Every directory follows the platform's conventions (platformdirs, app "oxbot") unless the
environment variable ``OXBOT_HOME`` is set: then everything lives under
``$OXBOT_HOME/{data,config,run,log}``, which is how tests and end-to-end runs stay isolated
from the user's real files.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import platformdirs

APP_NAME = "oxbot"
DB_FILENAME = "oxbot.db"


def _home() -> Path | None:
    home = os.environ.get("OXBOT_HOME")
    return Path(home).expanduser() if home else None


def _ensure(path: Path, mode: int = 0o755) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=mode)
    return path


def data_dir() -> Path:
    """The directory of the database (created if missing)."""
    home = _home()
    path = home / "data" if home else platformdirs.user_data_path(APP_NAME, appauthor=False)
    return _ensure(path)


def config_dir() -> Path:
    """The directory of settings.json and user themes (created if missing)."""
    home = _home()
    path = home / "config" if home else platformdirs.user_config_path(APP_NAME, appauthor=False)
    return _ensure(path)


def log_dir() -> Path:
    """The directory of log files (created if missing)."""
    home = _home()
    path = home / "log" if home else platformdirs.user_log_path(APP_NAME, appauthor=False)
    return _ensure(path)


def runtime_dir() -> Path:
    """The directory of the control socket and pid files, owner-only (0700).

    The socket there accepts engine commands, so nobody but the owner may reach it: the mode is
    enforced even when the directory already existed with looser permissions.
    """
    home = _home()
    if home:
        path = home / "run"
    else:
        with warnings.catch_warnings():
            # Without XDG_RUNTIME_DIR (su, some SSH sessions, containers) platformdirs falls
            # back to /tmp/runtime-<uid> and printed a warning on every command; the fallback
            # is fine, its mode is enforced below.
            warnings.simplefilter("ignore")
            path = platformdirs.user_runtime_path(APP_NAME, appauthor=False)
    _ensure(path, 0o700)
    if (path.stat().st_mode & 0o777) != 0o700:
        path.chmod(0o700)
    return path


class DbUrl(str):
    """A PostgreSQL database (``postgresql+asyncpg://user@host:port/dbname``, never with a
    password: storage/pg.py refuses one) where the command line passes the database's Path
    along: ``Store.open`` takes it as the URL it is, and the few Path questions callers ask
    have a server's answers (no folder to resolve or create; whether it holds an oxbot
    database is for ``Store.open`` to say, so it "exists")."""

    def expanduser(self) -> DbUrl:
        return self

    def resolve(self) -> DbUrl:
        return self

    def exists(self) -> bool:
        return True


def _db(value: str) -> Path | DbUrl:
    if value.split(":", 1)[0].split("+", 1)[0] in ("postgresql", "postgres"):  # as pg.is_url
        from .pg import PgUrl  # noqa: PLC0415 - SQLAlchemy: only for a URL

        return DbUrl(str(PgUrl.parse(value)))
    return Path(value).expanduser()


def default_db_path() -> Path | DbUrl:
    """``$OXBOT_DB`` when set (a file, or a PostgreSQL URL), else ``data_dir()/oxbot.db``."""
    env = os.environ.get("OXBOT_DB")
    if env:
        return _db(env)
    return data_dir() / DB_FILENAME


def resolve_db_path(cli_value: str | None) -> Path | DbUrl:
    """The database the user asked for: ``--db PATH`` (or URL) first, then ``$OXBOT_DB``, then
    the default file."""
    if cli_value:
        return _db(cli_value)
    return default_db_path()


def strategies_dir() -> Path:
    """The folder of the user's strategy files, ``<config>/strategies`` (created if missing).
    Files there are the user's own Python code, run with the user's rights."""
    return _ensure(config_dir() / "strategies")
