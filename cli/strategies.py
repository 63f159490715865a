"""`oxbot strategies list|new|check`: the built-in strategies and the user's own (files in
<config>/strategies, installed packages exposing the `oxbot.strategies` entry points).

Strategy files are the user's own Python code and run with the user's rights; oxbot never loads
one from the database or the network.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_ERROR = 0, 1


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "strategies",
        help="list, create and check strategies (your own: <config>/strategies/*.py)",
        description="Strategies: the built-ins and your own, from <config>/strategies/*.py and "
        "installed packages (entry points 'oxbot.strategies'). A strategy file is your own "
        "Python code and runs with your user's rights.",
    )
    actions = p.add_subparsers(dest="strategies_action", metavar="ACTION", required=True)
    a = actions.add_parser("list", help="every strategy: name, source, parameters")
    a.add_argument("--json", action="store_true", help="machine-readable output")
    a.set_defaults(handler=_list)
    a = actions.add_parser("new", help="write a commented template <config>/strategies/NAME.py")
    a.add_argument("name", help="lowercase identifier, e.g. my_trend")
    a.set_defaults(handler=_new)
    a = actions.add_parser(
        "check", help="load a strategy file, run it on generated candles, look for look-ahead"
    )
    a.add_argument("file", help="the strategy's .py file")
    a.set_defaults(handler=_check)


def _params(cls: Any) -> list[dict[str, Any]]:
    from annotated_types import Ge, Gt, Le, Lt  # noqa: PLC0415 - pydantic's own dependency

    out = []
    for name, info in cls.Params.model_fields.items():
        bounds: dict[str, Any] = {}
        for m in info.metadata:
            for kind, attr in ((Ge, "ge"), (Gt, "gt"), (Le, "le"), (Lt, "lt")):
                if isinstance(m, kind):
                    bounds[attr] = getattr(m, attr)
        out.append(
            {
                "name": name,
                "default": info.get_default(call_default_factory=True),
                "type": getattr(info.annotation, "__name__", str(info.annotation)),
                **bounds,
                "description": info.description or "",
            }
        )
    return out


def _range(p: dict[str, Any]) -> str:
    lo = f"{p['ge']}<=" if "ge" in p else f"{p['gt']}<" if "gt" in p else ""
    hi = f"<={p['le']}" if "le" in p else f"<{p['lt']}" if "lt" in p else ""
    return f" [{lo}x{hi}]" if lo or hi else ""


def _safe(text: str) -> str:
    """``text`` printable under any UTF-8 locale: a file name that is not UTF-8 (a byte
    Python keeps as a lone surrogate, e.g. ``caf\\udce9.py``) is shown escaped, not a crash."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _list(args: argparse.Namespace) -> int:
    from oxbot.app.strategies import load_user_strategies  # noqa: PLC0415
    from oxbot.engine.strategies import REGISTRY  # noqa: PLC0415
    from oxbot.engine.strategies.loader import (  # noqa: PLC0415
        FAILURES,
        SOURCES,
        user_stdout_to_stderr,  # noqa: PLC0415
    )

    user_stdout_to_stderr(args.json)  # a print at a strategy's import: not into the JSON
    try:
        load_user_strategies()
    finally:
        user_stdout_to_stderr(False)
    rows = [
        {
            "name": name,
            "source": SOURCES.get(name, "built-in"),
            "description": REGISTRY[name].description,
            "params": _params(REGISTRY[name]),
        }
        for name in sorted(REGISTRY)
    ]
    failed = [{"source": f.source, "error": f.message} for f in FAILURES.values()]
    if args.json:
        print(json.dumps({"strategies": rows, "failed": failed}, default=str, indent=2))
        return EXIT_OK
    for r in rows:
        print(_safe(f"{r['name']}  ({r['source']})"))
        if r["description"]:
            print(_safe(f"    {r['description']}"))
        for p in r["params"]:
            desc = f"  {p['description']}" if p["description"] else ""
            print(_safe(f"    {p['name']}={p['default']!r}{_range(p)}{desc}"))
    for f in failed:
        print(_safe(f"did not load: {f['error']}"), file=sys.stderr)
    return EXIT_OK


def _new(args: argparse.Namespace) -> int:
    from oxbot.cli.strategy_template import STRATEGY, TEST, render  # noqa: PLC0415
    from oxbot.engine.errors import UsageError  # noqa: PLC0415
    from oxbot.engine.strategies import REGISTRY  # noqa: PLC0415
    from oxbot.engine.strategies.loader import NAME_RE, SOURCES  # noqa: PLC0415
    from oxbot.storage.paths import strategies_dir  # noqa: PLC0415

    name = args.name
    if not NAME_RE.match(name):
        raise UsageError(
            f"{name!r} is not a strategy name: lowercase letters, digits and _, "
            "starting with a letter (at most 40)"
        )
    if name.startswith("test_"):
        raise UsageError(
            f"{name!r} cannot be a strategy's file name: files named test_*.py are tests "
            f"and the loader skips them; pick another name (e.g. {name[5:] or 'mine'}_strategy)"
        )
    if name in REGISTRY and name not in SOURCES:
        raise UsageError(f"{name!r} is a built-in strategy; pick another name")
    folder = strategies_dir()
    path, test = folder / f"{name}.py", folder / f"test_{name}.py"
    for f in (path, test):
        if f.exists():
            raise UsageError(f"{f} already exists; oxbot never overwrites a strategy file")
    path.write_text(render(STRATEGY, name), encoding="utf-8")
    test.write_text(render(TEST, name), encoding="utf-8")
    print(f"wrote {path}")
    print(f"wrote {test}")
    print(f"next: oxbot strategies check {path}")
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    from oxbot.engine.errors import UsageError  # noqa: PLC0415
    from oxbot.engine.strategies import REGISTRY, check_strategy  # noqa: PLC0415
    from oxbot.engine.strategies.loader import (  # noqa: PLC0415
        SOURCES,
        StrategyLoadError,
        load_file,
    )

    path = Path(args.file).expanduser().resolve()
    if not path.is_file():
        raise UsageError(f"{args.file}: no such file")
    try:
        classes = load_file(path)
    except StrategyLoadError as e:
        print(_safe(f"FAIL {e}"))
        return EXIT_ERROR
    status = EXIT_OK
    for cls in classes:
        if cls.name in REGISTRY and cls.name not in SOURCES:
            print(_safe(f"FAIL {path}: the name {cls.name!r} is a built-in strategy; rename yours"))
            status = EXIT_ERROR
            continue
        report = check_strategy(cls)
        for note in report.notes:
            print(_safe(f"     {cls.name}: {note}"))
        for err in report.errors:
            print(_safe(f"FAIL {cls.name}: {err}"))
        if report.ok:
            print(_safe(f"ok   {cls.name} ({path})"))
        else:
            status = EXIT_ERROR
    return status
