"""The `oxbot` command line. Importing this module must stay cheap: no ccxt, pandas, pandas-ta,
Textual or SQLAlchemy at import time (tests/test_cli_fast.py proves it). Each sub-command module
exposes ``register(subparsers)`` and imports what it needs inside its handler.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from oxbot.app import __version__

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2

Handler = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # usage errors: one line, exit 2
        self.print_usage(sys.stderr)
        print(f"oxbot: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


DB_HELP = (
    "database file, or a PostgreSQL URL postgresql+asyncpg://USER@HOST:PORT/DBNAME (password "
    "from the keyring or PGPASSFILE; default: $OXBOT_DB or the user data directory)"
)
CREATE_HELP = (
    "create the --db file's folder when it does not exist (without it oxbot refuses, "
    "so a typo in the path never makes a new, empty database somewhere)"
)


def _add_db_options(parser: argparse.ArgumentParser, top: bool) -> None:
    """--db and --create, before the command or after it (`oxbot run --headless --db x.db`,
    as users type it). After the command their default is "not given", so a value given
    before the command is kept."""
    default: dict[str, object] = {} if top else {"default": argparse.SUPPRESS}
    parser.add_argument("--db", metavar="PATH|URL", help=DB_HELP, **default)  # type: ignore[arg-type]
    parser.add_argument("--create", action="store_true", help=CREATE_HELP, **default)  # type: ignore[arg-type]


def _every_subparser(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = []
    for action in parser._actions:  # noqa: SLF001 - argparse keeps subparsers only here
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for sub in dict.fromkeys(action.choices.values()):
                found += [sub, *_every_subparser(sub)]
    return found


def build_parser() -> argparse.ArgumentParser:
    from oxbot.cli import commands as cli_commands  # noqa: PLC0415

    p = _Parser(
        prog="oxbot",
        description="oxbot: a terminal cockpit for crypto trading bots (paper by default).",
        epilog="Run `oxbot` alone to open the cockpit. `oxbot COMMAND --help` for details. "
        "Exit codes: 0 done, 1 failed or refused at run time (e.g. no engine running), "
        "2 usage error (bad input; nothing was changed).",
    )
    p.add_argument("--version", action="version", version=f"oxbot {__version__}")
    _add_db_options(p, top=True)
    p.add_argument("--demo", action="store_true", help="start the demo bots if there are none")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for register in cli_commands.REGISTRARS:
        register(sub)
    for child in _every_subparser(p):
        _add_db_options(child, top=False)
    return p


class _NotPlain(Exception):
    """The command line is not plain `oxbot [--db X] [--create] [--demo]`."""


class _PlainParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _NotPlain(message)


def _plain_cockpit_args(argv: Sequence[str]) -> argparse.Namespace | None:
    """The arguments of plain `oxbot` (the cockpit, the common start) without importing every
    sub-command's module to register its flags; None for anything else, which the full parser
    reads (its help, its errors). The options are the full parser's top-level ones, so
    abbreviations resolve alike."""
    if "--" in argv:
        return None
    p = _PlainParser(prog="oxbot", add_help=False)
    _add_db_options(p, top=True)
    p.add_argument("--demo", action="store_true")
    try:
        args, rest = p.parse_known_args(argv)
    except _NotPlain:
        return None
    if rest:
        return None
    args.command = None
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _plain_cockpit_args(argv) or build_parser().parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        from oxbot.cli.tui import run_tui  # noqa: PLC0415

        handler = run_tui
    from oxbot.cli.errors import run_handler  # noqa: PLC0415

    return run_handler(handler, args)


if __name__ == "__main__":
    raise SystemExit(main())
