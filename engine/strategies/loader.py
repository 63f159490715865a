"""Loading the user's strategies: ``*.py`` files of a folder (the app passes
``<config>/strategies``) and installed packages exposing the ``oxbot.strategies`` entry-point
group. Never from the database or the network: a strategy is the user's own code and runs
with the user's rights.

A file that fails (syntax error, exception at import, no Strategy subclass, bad Params, a name
taken by a built-in) is recorded, with file:line, in `FAILURES` and harms nothing else: the
other files load, and a bot asking for its strategy gets that message from `strategy_class`.
Files named ``_*.py`` or ``test_*.py`` are not strategies and are skipped. A name defined by
two files (or a file and a package) -- e.g. ``good1.py`` and its backup ``good1.bak.py`` -- is
ambiguous: neither is used (asking for it names both files) until one is renamed or removed;
never the one that happens to sort first. A file edited
since it was loaded is loaded again by the next `discover` (new bots and runs get the new
version; running bots keep the class they were built with). "Edited" is decided by the file's
bytes, not its mtime: two saves within the file system's timestamp tick, or within the same
second (the granularity of the mtime a ``.pyc`` records), would otherwise go unseen. The code
is compiled from those same bytes, never from a bytecode cache, and no ``__pycache__`` is
written beside the user's files.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import inspect
import linecache
import os
import re
import sys
import threading
import traceback
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import ValidationError

from ..errors import StrategyError, StrategyExit
from ..market.indicators import IndicatorSpec
from .base import Strategy, StrategyParams
from .sdk import API_VERSION, ENTRY_POINT_GROUP

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MODULE_PREFIX = "oxbot_user_strategy_"


class StrategyLoadError(Exception):
    """Why a strategy file or entry point could not be used; the text starts with file:line."""


class NameTaken(StrategyLoadError):
    """The file's strategy name is another file's (``owner``); retried when that one goes."""

    def __init__(self, message: str, owner: str, name: str = "") -> None:
        super().__init__(message)
        self.owner = owner
        self.name = name


@dataclass(frozen=True)
class Failure:
    source: str  # the file path, or "package <dist> (<entry point>)"
    message: str  # file:line: what went wrong
    guess: str  # the strategy name it probably defines (the file's stem, the entry point's name)
    names: tuple[str, ...] = ()  # the names the file defined when it last loaded
    owner: str = ""  # for a name taken by another file: that file
    taken: str = ""  # and that name (neither file's strategy of that name is used)


# name -> where it came from, for the user's strategies only (built-ins are the rest of REGISTRY)
SOURCES: dict[str, str] = {}
FAILURES: dict[str, Failure] = {}  # by source
_loaded_files: dict[Path, tuple[str, tuple[str, ...]]] = {}  # path -> (digest, names)
# name -> (class, source) of a name another file defines too: out of the registry meanwhile
_hidden: dict[str, tuple[type[Strategy], str]] = {}
_entry_points_done = False
_lock = threading.RLock()


def _registry() -> MutableMapping[str, type[Strategy]]:
    from . import REGISTRY  # noqa: PLC0415 - the package imports this module

    return REGISTRY


def builtin_names() -> set[str]:
    return {n for n in _registry() if n not in SOURCES}


def discover(directory: Path | None, *, entry_points: bool = True) -> None:
    """Load (or reload, when edited) every strategy file of ``directory`` and, once per
    process, the installed entry points. Never raises for a bad strategy: see `FAILURES`."""
    with _lock:
        if directory is not None and directory.is_dir():
            files = sorted(directory.glob("*.py"))
            for gone in [p for p in _loaded_files if p.parent == directory and p not in files]:
                _forget_file(gone)
            owners = set(SOURCES.values())
            for f in list(FAILURES.values()):  # the file that held the name is gone: retry
                if f.owner and f.owner not in owners:
                    _loaded_files.pop(Path(f.source), None)
            for path in files:
                if not path.name.startswith(("_", "test_")):  # tests sit beside strategies
                    _load_file_if_changed(path)
        if entry_points:
            _load_entry_points()
        _settle_conflicts()


def _settle_conflicts() -> None:
    """Take out of the registry every name that two sources define (the first file loaded
    holds it in `SOURCES`, the other has a `Failure` naming it), and put back the ones whose
    second file is gone: a backup copy never silently runs in place of the user's file."""
    reg = _registry()
    clashing = {f.taken for f in FAILURES.values() if f.taken}
    for name, (cls, source) in list(_hidden.items()):
        if SOURCES.get(name) != source:  # its file was edited or removed since
            del _hidden[name]
        elif name not in clashing:
            reg[name] = cls
            del _hidden[name]
    for name in clashing:
        if name in SOURCES and name not in _hidden and name in reg:
            _hidden[name] = (reg[name], SOURCES[name])
            del reg[name]


def failure_for(name: str) -> Failure | None:
    """The failure of the file or entry point that most likely defines ``name``."""
    for f in FAILURES.values():
        if f.guess == name or name in f.names or name == f.taken:
            return f
    return None


def _forget_file(path: Path) -> tuple[str, ...]:
    """Unregister what ``path`` defined; the names it had (a broken edit keeps them, so a
    bot asking for one gets the file's error)."""
    _, names = _loaded_files.pop(path, ("", ()))
    for n in names:
        _registry().pop(n, None)
        SOURCES.pop(n, None)
        _hidden.pop(n, None)
    failed = FAILURES.pop(str(path), None)
    return names or (failed.names if failed is not None else ())


def _load_file_if_changed(path: Path) -> None:
    try:
        source = path.read_bytes()
    except OSError:
        return
    digest = hashlib.sha256(source).hexdigest()
    if path in _loaded_files and _loaded_files[path][0] == digest:
        return
    had = _forget_file(path)
    try:
        classes = load_file(path, source)
        names = _register(classes, str(path))
    except StrategyLoadError as e:
        owner, taken = (e.owner, e.name) if isinstance(e, NameTaken) else ("", "")
        FAILURES[str(path)] = Failure(str(path), str(e), path.stem, had, owner, taken)
        names = ()
    _loaded_files[path] = (digest, tuple(names))


def load_file(path: Path, source: bytes | None = None) -> list[type[Strategy]]:
    """Import ``path`` (its bytes ``source`` when given) as a module and return its checked
    Strategy classes; nothing is registered. StrategyLoadError says what is wrong, with
    file:line."""
    mod_name = MODULE_PREFIX + re.sub(r"\W", "_", path.stem)
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise StrategyLoadError(f"{path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module  # pydantic resolves the Params' annotations through it
    folder = str(path.parent)
    added = folder not in sys.path
    try:
        if source is None:
            source = path.read_bytes()
        linecache.cache.pop(str(path), None)  # inspect and tracebacks: this version's lines
        _forget_helpers(path.parent)
        if added:  # `from _helpers import X` finds <folder>/_helpers.py (after the stdlib)
            sys.path.append(folder)
        with _to_stderr():  # a print at import time, too
            exec(compile(source, str(path), "exec", dont_inherit=True), module.__dict__)  # noqa: S102
    except BaseException as e:  # noqa: BLE001 - the user's code may raise anything
        sys.modules.pop(mod_name, None)
        if isinstance(e, KeyboardInterrupt):
            raise
        raise StrategyLoadError(where_failed(e, path)) from None
    finally:
        if added and folder in sys.path:
            sys.path.remove(folder)
    return check_module(module, str(path))


def _forget_helpers(folder: Path) -> None:
    """Drop the modules imported from ``folder`` (the user's ``_helpers.py``) so a strategy
    file loaded again imports their current version, not the one cached by the first load."""
    where = str(folder)
    for name, mod in list(sys.modules.items()):
        file = getattr(mod, "__file__", None)
        if file and os.path.dirname(file) == where and not name.startswith(MODULE_PREFIX):
            del sys.modules[name]


def check_module(module: ModuleType, source: str) -> list[type[Strategy]]:
    found = [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, Strategy)
        and obj.__module__ == module.__name__
        and not inspect.isabstract(obj)
    ]
    if not found:
        raise StrategyLoadError(
            f"{source}: no Strategy subclass (define a class that subclasses "
            "oxbot.engine.strategies.Strategy and implements signals)"
        )
    for cls in found:
        check_class(cls, source)
    seen: dict[str, type[Strategy]] = {}
    for cls in found:
        first = seen.setdefault(cls.name, cls)
        if first is not cls:
            raise StrategyLoadError(
                f"{source}:{_line_of(cls)}: {cls.__name__} and {first.__name__} (line "
                f"{_line_of(first)}) are both named {cls.name!r}; give each strategy its own name"
            )
    return found


def check_class(cls: type[Strategy], source: str) -> None:
    """StrategyLoadError (with file:line of the class) when ``cls`` breaks the contract."""
    guard_class(cls)
    at = f"{source}:{_line_of(cls)}"
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise StrategyLoadError(
            f"{at}: {cls.__name__}.name must be a lowercase identifier "
            f"(letters, digits, _; at most 40), not {name!r}"
        )
    wanted = getattr(cls, "api_version", API_VERSION)
    if not isinstance(wanted, int) or wanted > API_VERSION:
        raise StrategyLoadError(
            f"{at}: {name} asks for strategy API version {wanted!r}; "
            f"this oxbot has version {API_VERSION}"
        )
    params_cls = getattr(cls, "Params", None)
    if not (inspect.isclass(params_cls) and issubclass(params_cls, StrategyParams)):
        raise StrategyLoadError(f"{at}: {name}.Params must subclass StrategyParams")
    from . import format_validation_error  # noqa: PLC0415

    try:
        # pydantic does not validate defaults: validate them as given values
        params = params_cls.model_validate(params_cls().model_dump())
    except ValidationError as e:
        raise StrategyLoadError(
            f"{at}: {name}.Params defaults do not validate: {format_validation_error(e)}"
        ) from None
    except _PASS_THROUGH:
        raise
    except BaseException as e:  # noqa: BLE001 - a validator of the user's (sys.exit too)
        if cancelled(e):
            raise
        raise StrategyLoadError(where_failed(e, Path(source), fallback=at)) from None
    try:
        strat = cls(params)
        specs = list(strat.indicators())
        for s in specs:
            if not isinstance(s, IndicatorSpec):
                raise TypeError(f"indicators() must return IndicatorSpec items, got {s!r}")
            s.columns  # noqa: B018 - raises for an unknown indicator
        warm = strat.warmup()
        if not isinstance(warm, int) or warm < 1:
            raise ValueError(f"warmup() must be a positive int, got {warm!r}")
    except StrategyError as e:  # already file:line (`guard_class`)
        raise StrategyLoadError(str(e)) from None
    except Exception as e:  # noqa: BLE001
        raise StrategyLoadError(where_failed(e, Path(source), fallback=at)) from None


# While oxbot's own stdout is a machine's (``--json``, a CSV to ``-``), what a user's strategy
# prints (debugging) goes to stderr. An environment variable, so that sweep workers started
# from this process redirect too.
STDOUT_ENV = "OXBOT_STRATEGY_STDOUT"


def user_stdout_to_stderr(on: bool) -> None:
    """Send what users' strategies print to stderr (``on``), or back to stdout."""
    if on:
        os.environ[STDOUT_ENV] = "stderr"
    else:
        os.environ.pop(STDOUT_ENV, None)


def _to_stderr() -> contextlib.AbstractContextManager[Any]:
    if os.environ.get(STDOUT_ENV) == "stderr":
        return contextlib.redirect_stdout(sys.stderr)
    return contextlib.nullcontext()


# What a user's strategy may not end: the process (sys.exit, SystemExit, or any other
# BaseException that is not one of these, which stop or cancel the caller as meant).
# asyncio's CancelledError is a BaseException too, but importing asyncio here would load it in
# every `oxbot backtest` (tests/test_cli_fast.py): it is asyncio.exceptions.CancelledError,
# told by its module once asyncio is loaded (it cannot be raised before).
_PASS_THROUGH = (KeyboardInterrupt, GeneratorExit)


def cancelled(e: BaseException) -> bool:
    """asyncio's CancelledError (a task being cancelled), without importing asyncio."""
    aio = sys.modules.get("asyncio")
    return aio is not None and isinstance(e, aio.CancelledError)


def guard_class(cls: type) -> None:
    """Wrap the methods the user's code defines (in ``cls`` and its bases that are not
    oxbot's) so that a SystemExit -- or any BaseException other than KeyboardInterrupt,
    CancelledError and GeneratorExit -- raised in them becomes StrategyError
    ``file:line: SystemExit: 3``: an ordinary error of that strategy, never the end of the
    engine, the cockpit or a command running other strategies. Ordinary exceptions pass
    unchanged (the callers name them with file:line). Built-in strategies are not wrapped, so
    their speed is untouched; wrapping twice is a no-op."""
    for klass in cls.__mro__:
        if klass is object or (klass.__module__ or "").startswith("oxbot."):
            continue
        if klass.__dict__.get("_oxbot_guarded", False):
            continue
        for attr, value in list(klass.__dict__.items()):
            wrapped = _guarded(value)
            if wrapped is not value:
                setattr(klass, attr, wrapped)
        klass._oxbot_guarded = True  # type: ignore[attr-defined]


def _guarded(value: Any) -> Any:
    if isinstance(value, staticmethod | classmethod):
        inner = _guarded(value.__func__)
        return value if inner is value.__func__ else type(value)(inner)
    if not inspect.isfunction(value) or getattr(value, "_oxbot_guard", False):
        return value
    if inspect.isgeneratorfunction(value) or inspect.isasyncgenfunction(value):
        return value  # GeneratorExit is how these end; not a strategy method either
    fn = value
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def guard_async(*args: Any, **kwargs: Any) -> Any:
            try:
                if STDOUT_ENV in os.environ:
                    with _to_stderr():
                        return await fn(*args, **kwargs)
                return await fn(*args, **kwargs)
            except _PASS_THROUGH:
                raise
            except Exception:
                raise
            except BaseException as e:
                if cancelled(e):
                    raise
                raise _as_error(fn, e) from None

        guard_async._oxbot_guard = True  # type: ignore[attr-defined]
        return guard_async

    @functools.wraps(fn)
    def guard(*args: Any, **kwargs: Any) -> Any:
        try:
            if STDOUT_ENV in os.environ:
                with _to_stderr():
                    return fn(*args, **kwargs)
            return fn(*args, **kwargs)
        except _PASS_THROUGH:
            raise
        except Exception:
            raise
        except BaseException as e:
            if cancelled(e):
                raise
            raise _as_error(fn, e) from None

    guard._oxbot_guard = True  # type: ignore[attr-defined]
    return guard


def _as_error(fn: Any, e: BaseException) -> StrategyExit:
    """StrategyExit ``file:line: SystemExit: text`` for ``e`` raised in the user's ``fn``."""
    file = fn.__code__.co_filename
    frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == file]
    line = frames[-1].lineno if frames else fn.__code__.co_firstlineno
    return StrategyExit(f"{file}:{line}: {type(e).__name__}: {e}")


def _register(classes: Iterable[type[Strategy]], source: str) -> tuple[str, ...]:
    reg = _registry()
    names = []
    for cls in classes:
        taken = SOURCES.get(cls.name)
        if cls.name in reg and taken is None:
            raise StrategyLoadError(
                f"{source}:{_line_of(cls)}: the name {cls.name!r} is a built-in strategy; "
                "rename yours (name = ...)"
            )
        if taken is not None and taken != source:
            raise NameTaken(
                f"{source}:{_line_of(cls)}: the name {cls.name!r} is already used by {taken}; "
                f"two files define strategy {cls.name!r}, so neither is used: rename one "
                "(name = ...) or remove it (a backup copy ending in .py, e.g. "
                "name.bak.py, is loaded like any strategy file: keep copies elsewhere)",
                taken,
                cls.name,
            )
        names.append(cls.name)
    for cls in classes:
        reg[cls.name] = cls
        SOURCES[cls.name] = source
    return tuple(names)


def _load_entry_points() -> None:
    global _entry_points_done  # noqa: PLW0603 - once per process
    if _entry_points_done:
        return
    _entry_points_done = True
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist is not None else "?"
        source = f"package {dist} ({ep.value})"
        try:
            obj: Any = ep.load()
            if inspect.isclass(obj) and issubclass(obj, Strategy):
                check_class(obj, source)
                classes = [obj]
            elif isinstance(obj, ModuleType):
                classes = check_module(obj, source)
            else:
                raise StrategyLoadError(
                    f"{source}: the entry point must name a Strategy subclass or a module"
                )
            _register(classes, source)
        except StrategyLoadError as e:
            owner, taken = (e.owner, e.name) if isinstance(e, NameTaken) else ("", "")
            FAILURES[source] = Failure(source, str(e), ep.name, (), owner, taken)
        except KeyboardInterrupt:
            raise
        except BaseException as e:  # noqa: BLE001 - a package's import may raise anything,
            # SystemExit included: one package must not end every command
            FAILURES[source] = Failure(source, f"{source}: {type(e).__name__}: {e}", ep.name)


def where_failed(e: BaseException, path: Path, fallback: str = "") -> str:
    """``file:line: Error: text`` for an exception raised by the code of ``path``."""
    if isinstance(e, SyntaxError):
        line = f":{e.lineno}" if e.lineno else ""
        return f"{e.filename or path}{line}: SyntaxError: {e.msg}"
    frames = [f for f in traceback.extract_tb(e.__traceback__) if Path(f.filename) == Path(path)]
    at = f"{path}:{frames[-1].lineno}" if frames else (fallback or str(path))
    return f"{at}: {type(e).__name__}: {e}"


def _line_of(cls: type) -> int | str:
    try:
        return inspect.getsourcelines(cls)[1]
    except (OSError, TypeError):
        return "?"
