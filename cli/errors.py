"""One place turns errors into a clear line and an exit code; no traceback reaches a user.

- ``UsageError`` (bad input) → exit 2; other ``OxbotError`` → exit 1;
- ``OSError`` → one line naming the file and the fix: exit 2 when the file is a path the user
  gave on the command line, else exit 1;
- anything else is a bug: one line asking to report it, the traceback goes to a file in the
  log directory (never to the terminal), exit 1.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Callable
from pathlib import Path

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
SQLITE_MAGIC = b"SQLite format 3\x00"


def run_handler(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run one sub-command handler and map whatever it raises to a line and an exit code."""
    from oxbot.engine.errors import OxbotError, UsageError  # noqa: PLC0415

    try:
        check_db_arg(args)
        return handler(args)
    except UsageError as e:
        print(f"oxbot: {e}", file=sys.stderr)
        return EXIT_USAGE
    except OxbotError as e:
        print(f"oxbot: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("oxbot: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `oxbot ... | head`: the reader left; nothing to say
        _silence_stdout()
        return EXIT_ERROR
    except OSError as e:
        user_path = _is_user_path(e, args)
        print(f"oxbot: {describe_os_error(e)}", file=sys.stderr)
        return EXIT_USAGE if user_path else EXIT_ERROR
    except Exception as e:  # noqa: BLE001 - the last resort: a bug, reported without a traceback
        said = user_strategy_error(e)  # the user's strategy code raised: no bug of oxbot's
        if said:
            print(f"oxbot: {said}", file=sys.stderr)
            return EXIT_ERROR
        said = _storage_problem(e, args)  # a full disk or a damaged database is no bug
        print(f"oxbot: {said or unexpected(e)}", file=sys.stderr)
        return EXIT_ERROR


def user_strategy_error(e: BaseException) -> str:
    """``file:line: Error: text`` when ``e`` was raised in one of the user's strategy files (the
    innermost frame in such a file), else "". Only asks the loader when it was imported."""
    import traceback  # noqa: PLC0415

    loader = sys.modules.get("oxbot.engine.strategies.loader")
    if loader is None:
        return ""
    files = {str(f) for f in loader.SOURCES.values()}
    frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename in files]
    if not frames:
        return ""
    return f"{frames[-1].filename}:{frames[-1].lineno}: {type(e).__name__}: {e}"


def _storage_problem(e: BaseException, args: argparse.Namespace) -> str | None:
    try:
        from oxbot.storage.health import describe  # noqa: PLC0415
        from oxbot.storage.paths import resolve_db_path  # noqa: PLC0415

        return describe(e, resolve_db_path(getattr(args, "db", None)))
    except Exception:  # noqa: BLE001 - only a better message was at stake
        return None


def check_db_arg(args: argparse.Namespace) -> None:
    """UsageError (exit 2) for a --db (or $OXBOT_DB) that cannot be a database: empty, a folder,
    or an existing file that is not SQLite. Checked before any handler opens it."""
    from oxbot.engine.errors import UsageError  # noqa: PLC0415

    raw = getattr(args, "db", None)
    source = "--db"
    if raw is None:
        raw, source = os.environ.get("OXBOT_DB"), "OXBOT_DB"
        if not raw:
            return
    if not raw.strip():
        raise UsageError(
            f"{source} is empty; give the path of a database file, e.g. "
            "--db ~/oxbot.db, or leave it out for the default"
        )
    from oxbot.storage.pg import PgUrl, is_url  # noqa: PLC0415

    if is_url(raw):  # PostgreSQL: the URL is checked here, the server when opened
        from oxbot.engine.errors import StorageError  # noqa: PLC0415

        try:
            PgUrl.parse(raw)
        except StorageError as e:
            raise UsageError(f"{source}: {e}") from None
        return
    path = Path(raw).expanduser()
    if (
        not path.exists()
        and not path.parent.is_dir()
        and getattr(args, "command", None) != "doctor"
    ):  # doctor only reports
        _missing_folder(path, source, bool(getattr(args, "create", False)))
    if path.is_dir():
        raise UsageError(
            f"{source} {path} is a directory; give the path of a database file, "
            f"e.g. {path / 'oxbot.db'}"
        )
    if path.is_file():
        try:
            with path.open("rb") as fh:
                head = fh.read(len(SQLITE_MAGIC))
        except OSError as e:
            raise UsageError(f"{source} {path}: {_reason(e)}; check its permissions") from None
        if head and head != SQLITE_MAGIC:
            raise UsageError(
                f"{source} {path} is not a SQLite database; point {source} at an "
                "oxbot database or at a new file name"
            )
    elif path.exists():
        raise UsageError(f"{source} {path} is not a regular file; give the path of a database file")


def _missing_folder(path: Path, source: str, create: bool) -> None:
    """The folder of a new database file is made only on the user's explicit word (--create):
    a typo in --db used to make a whole new folder and an empty database there, silently."""
    from oxbot.engine.errors import UsageError  # noqa: PLC0415

    folder = path.parent
    if folder.exists():
        raise UsageError(
            f"{source} {path}: {folder} is not a folder; give the path of a database file"
        )
    if not create:
        raise UsageError(
            f"{source} {path}: the folder {folder} does not exist; check the "
            "path, or add --create to make the folder and a new database there "
            "(nothing was written)"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"--create: cannot make the folder {folder}: {_reason(e)}") from None
    print(f"oxbot: created the folder {folder}", file=sys.stderr)


def _reason(e: OSError) -> str:
    return (e.strerror or str(e) or type(e).__name__).rstrip(".").lower()


def describe_os_error(e: OSError) -> str:
    """``cannot use /x/y: permission denied; check the path and its permissions``."""
    where = e.filename if e.filename is not None else None
    reason = _reason(e)
    if isinstance(e, FileNotFoundError):
        fix = "check the path (does its folder exist?)"
    elif isinstance(e, PermissionError):
        fix = "check the path and its permissions"
    elif isinstance(e, IsADirectoryError):
        fix = "give a file name, not a folder"
    elif e.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = "the disk is full: free some space and try again"
    else:
        fix = "check the path, the free disk space and the permissions"
    return f"cannot use {where}: {reason}; {fix}" if where else f"{reason}; {fix}"


def _is_user_path(e: OSError, args: argparse.Namespace) -> bool:
    if e.filename is None:
        return False
    target = Path(str(e.filename)).expanduser()
    for value in vars(args).values():
        if isinstance(value, str | Path) and str(value) not in ("", "-"):
            given = Path(str(value)).expanduser()
            if given == target or given in target.parents:
                return True
    return False


def unexpected(e: BaseException) -> str:
    """Write the traceback to the log directory; return the one line to show."""
    import time  # noqa: PLC0415
    import traceback  # noqa: PLC0415

    text = "".join(traceback.format_exception(e))
    try:
        from oxbot.storage.paths import log_dir  # noqa: PLC0415
        from oxbot.storage.redact import redact  # noqa: PLC0415

        path = log_dir() / f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
        path.write_text(redact(text), encoding="utf-8")  # no key's bytes in the file either
        where = f"; please report it with the details saved in {path}"
    except Exception:  # noqa: BLE001 - even the crash file may fail; the line still prints
        where = "; please report it (the details could not be saved)"
    first = str(e).splitlines()[0] if str(e) else "no details"
    return f"unexpected error ({first}){where}"


def _silence_stdout() -> None:
    # Python would complain again when it flushes stdout at exit.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
