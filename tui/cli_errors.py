"""One place turns errors into a clear line and an exit code; no traceback reaches a user."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def run_handler(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    from oxbot.engine.errors import OxbotError, UsageError  # noqa: PLC0415

    try:
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
