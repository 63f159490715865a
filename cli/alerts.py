"""`oxbot alerts add|list|remove|test`: where alerts go. The apprise URL (it holds the
service's token) is kept in the OS keyring; settings.json names the alert and its events.

Import cost stays near zero: apprise, keyring and the settings load inside the handlers.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

EXIT_OK, EXIT_ERROR = 0, 1


def register(subparsers: Any) -> None:
    """Add the ``alerts`` command and its actions to the ``oxbot`` parser."""
    alerts = subparsers.add_parser(
        "alerts",
        help="notifications to Telegram, Discord, Slack, e-mail, ntfy, ... (add, list, test)",
        description="Alerts of fills, stop-loss/take-profit exits, errors, budget pauses, PANIC "
        "and the engine stopping, sent through apprise (https://appriseit.com/services/). "
        "URLs are kept in the OS keyring.",
    )
    actions = alerts.add_subparsers(dest="alerts_action", metavar="ACTION", required=True)

    p = actions.add_parser("add", help="store an apprise URL under NAME (or replace it)")
    p.add_argument("name", help="a short name: lowercase letters, digits, - and _")
    p.add_argument(
        "url",
        nargs="?",
        help="an apprise URL, e.g. tgram://TOKEN/CHAT_ID; omitted: asked without echo "
        "(a URL on the command line stays in the shell history)",
    )
    p.add_argument(
        "--events",
        help="comma-separated: fill, sl_tp, error, budget, panic, engine_stopped (default: all)",
    )
    p.add_argument(
        "--per-minute", type=int, help="messages a minute at most, more are summarised (6)"
    )
    p.add_argument("--stdin", action="store_true", help="read the URL from stdin")
    p.set_defaults(handler=_add)

    p = actions.add_parser("list", help="alert names and their events (never the URLs)")
    p.set_defaults(handler=_list)

    p = actions.add_parser("remove", help="forget an alert and its URL")
    p.add_argument("name")
    p.set_defaults(handler=_remove)

    p = actions.add_parser("test", help="send one message and say whether it was delivered")
    p.add_argument("name", nargs="?", help="one alert (default: every alert)")
    p.set_defaults(handler=_test)


def _settings() -> tuple[Any, Any]:
    """(settings, path); a settings file with problems is refused rather than rewritten
    without the parts that could not be read."""
    from oxbot.engine.errors import UsageError  # noqa: PLC0415
    from oxbot.storage.settings import load_settings, settings_path  # noqa: PLC0415

    path = settings_path()
    settings, warnings = load_settings(path)
    if warnings:
        raise UsageError(f"{warnings[0]}; fix it first (nothing was changed)")
    return settings, path


def _add(args: argparse.Namespace) -> int:
    from oxbot.app.alerts import check_url  # noqa: PLC0415
    from oxbot.engine.errors import UsageError  # noqa: PLC0415
    from oxbot.storage import alert_urls  # noqa: PLC0415
    from oxbot.storage.settings import ALERT_EVENTS, AlertRoute, save_settings  # noqa: PLC0415

    from_env = os.environ.get(alert_urls.env_var(args.name), "").strip()
    url = args.url
    if url is None and from_env and not args.stdin:
        url = from_env  # a server without a keyring keeps it there (README, Alerts)
    if url is None:
        if args.stdin:
            url = sys.stdin.readline()
        else:
            import getpass  # noqa: PLC0415

            url = getpass.getpass("apprise URL (input stays hidden): ")
    url = url.strip()
    if not url:
        raise UsageError("no URL given; nothing was saved")
    problem = check_url(url)
    if problem:
        raise UsageError(f"{problem}; nothing was saved")
    settings, path = _settings()
    route: dict[str, Any] = {}
    if args.events:
        route["events"] = [e.strip() for e in args.events.split(",") if e.strip()]
    if args.per_minute is not None:
        route["per_minute"] = args.per_minute
    try:
        alerts = dict(settings.alerts)
        alerts[args.name] = AlertRoute.model_validate(route)
        settings.alerts = alerts  # validates the name
    except ValueError as e:
        first = e.errors()[0]["msg"] if hasattr(e, "errors") else str(e)
        raise UsageError(f"{first.removeprefix('Value error, ')}; nothing was saved") from None
    backend = _store_url(args.name, url, from_env)
    save_settings(settings, path)
    events = ", ".join(settings.alerts[args.name].events)
    every = "every event" if set(events.split(", ")) == set(ALERT_EVENTS) else events
    print(
        f"saved alert {args.name}: URL {backend}, {every}, at most "
        f"{settings.alerts[args.name].per_minute} messages a minute. "
        f"Try it: oxbot alerts test {args.name}"
    )
    return EXIT_OK


def _store_url(name: str, url: str, from_env: str) -> str:
    """Where the URL of ``name`` is kept: the keyring, or, when there is none here and
    OXBOT_ALERT_<NAME>_URL holds this URL, that variable (nothing to store). Without either:
    SecretsError naming the variable as the third fix."""
    from oxbot.storage import alert_urls  # noqa: PLC0415
    from oxbot.storage.secrets import SecretsError  # noqa: PLC0415

    var = alert_urls.env_var(name)
    try:
        return f"in the keyring ({alert_urls.set_url(name, url)})"
    except SecretsError as e:
        if from_env == url:
            return f"from ${var} (no keyring here: the engine needs that variable too)"
        text = str(e).replace("keeps API keys only in", "keeps alert URLs (they hold tokens) in")
        head, sep, _keys_fix = text.partition("  3. ")
        raise SecretsError(
            f"{head}{sep or '  3. '}or keep the URL in the environment of oxbot (the shell, "
            f"and the one `oxbot run` starts from): export {var}='URL', then run `oxbot alerts "
            f"add {name}` again to save its events. Nothing was saved"
        ) from None


def _list(args: argparse.Namespace) -> int:
    settings, _ = _settings()
    if not settings.alerts:
        print("no alerts; add one with `oxbot alerts add NAME URL`")
        return EXIT_OK
    width = max(len(n) for n in settings.alerts) + 2
    print(f"{'NAME':<{width}}PER MIN  EVENTS")
    for name, route in sorted(settings.alerts.items()):
        print(f"{name:<{width}}{route.per_minute:<7}  {', '.join(route.events)}")
    return EXIT_OK


def _remove(args: argparse.Namespace) -> int:
    from oxbot.storage import alert_urls  # noqa: PLC0415
    from oxbot.storage.settings import save_settings  # noqa: PLC0415

    settings, path = _settings()
    known = args.name in settings.alerts
    if known:
        settings.alerts = {k: v for k, v in settings.alerts.items() if k != args.name}
        save_settings(settings, path)
    from oxbot.storage.secrets import SecretsError  # noqa: PLC0415

    try:
        had_url = alert_urls.delete_url(args.name)
    except SecretsError:
        if not known:
            raise
        print(  # settings.json no longer names it: no alert goes there any more
            f"removed alert {args.name} (no keyring here to clear; its URL may be in "
            f"${alert_urls.env_var(args.name)}: unset it)"
        )
        return EXIT_OK
    if not known and not had_url:
        print(f"no alert named {args.name}; nothing removed", file=sys.stderr)
        return EXIT_ERROR
    print(f"removed alert {args.name}")
    return EXIT_OK


def _test(args: argparse.Namespace) -> int:
    from oxbot.app.alerts import deliver  # noqa: PLC0415
    from oxbot.engine.errors import UsageError  # noqa: PLC0415
    from oxbot.storage import alert_urls  # noqa: PLC0415
    from oxbot.storage.secrets import SecretsError  # noqa: PLC0415

    settings, _ = _settings()
    names = [args.name] if args.name else sorted(settings.alerts)
    if not names:
        raise UsageError("no alerts; add one with `oxbot alerts add NAME URL`")
    status = EXIT_OK
    for name in names:
        if name not in settings.alerts:
            raise UsageError(f"no alert named {name}; see `oxbot alerts list`")
        try:
            url = alert_urls.get_url(name)
        except SecretsError:  # no keyring, and the variable is not set
            var = alert_urls.env_var(name)
            print(f"{name}: failed: no keyring here and ${var} is not set; export {var}='URL'")
            status = EXIT_ERROR
            continue
        if not url:
            print(f"{name}: failed: no URL stored; run `oxbot alerts add {name} URL`")
            status = EXIT_ERROR
            continue
        ok, why = deliver(url, f"oxbot test alert ({name}): alerts reach you here.")
        print(f"{name}: delivered" if ok else f"{name}: failed: {why}")
        status = status if ok else EXIT_ERROR
    return status
