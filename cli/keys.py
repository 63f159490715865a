"""`oxbot keys set|list|delete|check`: API keys in the OS keyring, shown only masked.

Import cost stays near zero: keyring, ccxt and oxbot.storage.secrets load inside the handlers.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any

EXIT_OK, EXIT_ERROR = 0, 1


def register(subparsers: Any) -> None:
    """Add the ``keys`` command and its actions to the ``oxbot`` parser."""
    keys = subparsers.add_parser(
        "keys",
        help="API keys in the OS keyring (set, list, delete, check)",
        description="Exchange and LLM keys live in the OS keyring (service 'oxbot'), or are read "
        "from OXBOT_<PROVIDER>_<FIELD> environment variables, which take precedence.",
    )
    actions = keys.add_subparsers(dest="keys_action", metavar="ACTION", required=True)

    p = actions.add_parser("set", help="store a provider's key (hidden prompt; paste works)")
    p.add_argument("provider", help="a ccxt exchange id (binance, okx, ...) or an LLM provider")
    p.add_argument(
        "--stdin",
        action="store_true",
        help="read the values from stdin, one per line, in the order the prompt asks",
    )
    p.set_defaults(handler=_set)

    p = actions.add_parser("list", help="providers with a key, where it comes from, masked")
    p.set_defaults(handler=_list)

    p = actions.add_parser("delete", help="remove a provider's key from the keyring")
    p.add_argument("provider")
    p.set_defaults(handler=_delete)

    p = actions.add_parser("check", help="keyring backend, keys present, exchange keys usable")
    p.add_argument(
        "--no-network", action="store_true", help="do not ask exchanges whether their keys work"
    )
    p.set_defaults(handler=_check)


def _read_values(fields: tuple[Any, ...], from_stdin: bool) -> dict[str, str]:
    from oxbot.engine.errors import UsageError  # noqa: PLC0415

    if from_stdin:
        lines = sys.stdin.read().splitlines()
        needed = sum(1 for f in fields if f.required)
        if not needed <= len(lines) <= len(fields):
            order = ", ".join(f.name if f.required else f"[{f.name}]" for f in fields)
            count = f"{needed}" if needed == len(fields) else f"{needed} or {len(fields)}"
            raise UsageError(
                f"--stdin expects {count} lines ({order}), got {len(lines)}; nothing was saved."
            )
        return {f.name: line.strip() for f, line in zip(fields, lines, strict=False)}
    import getpass  # noqa: PLC0415

    return {f.name: getpass.getpass(f"{f.label}: ").strip() for f in fields}


def _set(args: argparse.Namespace) -> int:
    import os  # noqa: PLC0415

    from oxbot.storage import secrets  # noqa: PLC0415

    spec = secrets.provider_spec(args.provider)
    if not spec.fields:
        print(f"{spec.name} needs no key; nothing to store.")
        return EXIT_OK
    try:  # before asking anything: no one should paste a key for nothing
        secrets.check_backend()
    except secrets.SecretsError as e:
        raise secrets.SecretsError(for_provider(str(e), spec)) from None
    if not args.stdin:
        print(f"{spec.name}: paste each value and press Enter (input stays hidden).")
    values = _read_values(spec.fields, args.stdin)
    backend = secrets.set_secret(spec.name, values)
    shown = ", ".join(f"{k} {secrets.mask(v)}" for k, v in values.items() if v)
    print(
        f"saved {spec.name} ({shown}) in the keyring ({secrets.friendly_name(backend)}); "
        "read back: ok"
    )
    shadow = [
        secrets.env_var(spec.name, f.name)
        for f in spec.fields
        if os.environ.get(secrets.env_var(spec.name, f.name))
    ]
    if shadow:
        print(f"note: {', '.join(shadow)} set in the environment take precedence over the keyring.")
    return EXIT_OK


def for_provider(text: str, spec: Any) -> str:
    """The generic keyring help, with the example variables of the provider in question."""
    from oxbot.storage import secrets  # noqa: PLC0415

    names = [secrets.env_var(spec.name, f.name) for f in spec.fields if f.required]
    if not names:
        return text
    return text.replace(
        "OXBOT_BINANCE_API_KEY and OXBOT_BINANCE_SECRET",
        " and ".join(names) if len(names) < 3 else ", ".join(names[:-1]) + " and " + names[-1],
    )


def half_set_env() -> list[tuple[str, dict[str, str], list[str]]]:
    """Providers with some but not all of their required OXBOT_* variables set:
    (provider, {field: masked value or "MISSING"}, [variables to set])."""
    import os  # noqa: PLC0415
    import re  # noqa: PLC0415

    from oxbot.storage import secrets  # noqa: PLC0415

    pattern = re.compile(rf"^{secrets.ENV_PREFIX}(.+)_({'|'.join(secrets.FIELD_NAMES_UPPER)})$")
    out = []
    for name in sorted(
        {m.group(1).lower() for v in os.environ if (m := pattern.match(v)) and os.environ[v]}
    ):
        try:
            spec = secrets.provider_spec(name)
        except secrets.UsageError:
            continue
        fields: dict[str, str] = {}
        missing: list[str] = []
        for f in spec.fields:
            value = os.environ.get(secrets.env_var(spec.name, f.name))
            if value:
                fields[f.name] = secrets.mask(value)
            elif f.required:
                fields[f.name] = "MISSING"
                missing.append(secrets.env_var(spec.name, f.name))
        if missing and len(missing) < sum(f.required for f in spec.fields):
            out.append((spec.name, fields, missing))
    return out


def _print_entries(entries: list[Any], half: list[tuple[str, dict[str, str], list[str]]]) -> None:
    width = max([len(e.provider) for e in entries] + [len(h[0]) for h in half] + [8])
    print(f"{'PROVIDER':<{width}}  {'SOURCE':<8}  FIELDS")
    for e in entries:
        fields = "  ".join(f"{k}={v}" for k, v in e.fields.items())
        note = "" if e.in_use else "  (not used: environment variables take precedence)"
        print(f"{e.provider:<{width}}  {e.source:<8}  {fields}{note}")
    for provider, hfields, missing in half:
        fields = "  ".join(f"{k}={v}" for k, v in hfields.items())
        print(f"{provider:<{width}}  {'env':<8}  {fields}  (not usable: set {', '.join(missing)})")


def _first_line(e: Exception) -> str:
    return (str(e).splitlines()[0] if str(e) else "no usable keyring backend").rstrip(".")


def _list(args: argparse.Namespace) -> int:
    from oxbot.storage import secrets  # noqa: PLC0415

    half = half_set_env()
    try:
        entries = secrets.list_secrets()
    except secrets.SecretsError as e:
        env_entries = secrets.list_secrets(include_keyring=False)
        if not env_entries and not half:
            raise
        _print_entries(env_entries, half)  # keys from the environment work without a keyring
        print(
            f"note: keyring unavailable ({_first_line(e)}); `oxbot keys set` needs one",
            file=sys.stderr,
        )
        return EXIT_OK
    if not entries and not half:
        print(
            f"no keys (keyring: {secrets.friendly_name(secrets.check_backend())}); "
            "add one with `oxbot keys set PROVIDER`"
        )
        return EXIT_OK
    _print_entries(entries, half)
    return EXIT_OK


def _delete(args: argparse.Namespace) -> int:
    import os  # noqa: PLC0415

    from oxbot.storage import secrets  # noqa: PLC0415

    spec = secrets.provider_spec(args.provider)
    existed = secrets.delete_secret(spec.name)
    if existed:
        print(f"deleted {spec.name} from the keyring.")
    else:
        print(f"no key for {spec.name} in the keyring; nothing deleted.", file=sys.stderr)
    env = [
        secrets.env_var(spec.name, f.name)
        for f in spec.fields
        if os.environ.get(secrets.env_var(spec.name, f.name))
    ]
    if env:
        print(f"note: {', '.join(env)} in the environment still provide a key.")
    return EXIT_OK if existed else EXIT_ERROR


def _check(args: argparse.Namespace) -> int:
    from oxbot.storage import secrets  # noqa: PLC0415

    problem: Exception | None = None
    try:
        print(f"keyring backend: {secrets.check_backend()}")
        entries = secrets.list_secrets()
    except secrets.SecretsError as e:
        problem = e
        print("keyring backend: none usable")
        entries = secrets.list_secrets(include_keyring=False)
    status = EXIT_OK
    for entry in entries:
        line = f"{entry.provider}: present ({entry.source})"
        if not entry.in_use:
            print(line + ", not used: environment variables take precedence")
            continue
        spec = secrets.provider_spec(entry.provider)
        if spec.kind == "exchange" and not args.no_network:
            from oxbot.app.runtime import endpoint_configurer  # noqa: PLC0415

            loaded = secrets.load_secret(entry.provider)
            verdict = check_exchange_key(
                entry.provider,
                loaded.fields if loaded else {},
                configure=endpoint_configurer(entry.provider),
            )
            line += f"; {verdict}"
            status = EXIT_ERROR if verdict.startswith("rejected") else status
        print(line)
    for provider, fields, missing in half_set_env():
        shown = ", ".join(f"{k}={v}" for k, v in fields.items())
        print(f"{provider}: not usable (env: {shown}); set {', '.join(missing)}")
        status = EXIT_ERROR
    if problem is not None:
        usable = [e for e in entries if e.in_use]
        if not usable:
            raise problem
        # Keys from the environment work without a keyring: say so, and do not fail.
        print(
            f"note: keyring unavailable ({_first_line(problem)}); the keys above come from "
            "the environment; `oxbot keys set` needs a keyring",
            file=sys.stderr,
        )
    elif not entries:
        print("no keys present; add one with `oxbot keys set PROVIDER`")
    return status


def check_exchange_key(
    provider: str,
    fields: Mapping[str, str],
    timeout: float = 5.0,
    configure: Callable[[Any], None] | None = None,
) -> str:
    """Ask the exchange whether the key works (ccxt ``fetch_balance``); return a verdict line.

    The verdict starts with ``usable``, ``rejected`` or ``not checked`` and never contains the
    key or the exchange's own error text (which may echo request parameters). ``configure`` gets
    the ccxt instance before the call (tests point its URLs at a local fake exchange).
    """
    try:
        import ccxt  # noqa: PLC0415
    except ImportError:
        return "not checked: ccxt is not installed"
    exchange_class = getattr(ccxt, provider, None)
    if exchange_class is None:
        return f"not checked: ccxt has no exchange {provider!r}"
    config: dict[str, Any] = {
        "apiKey": fields.get("api_key", ""),
        "secret": fields.get("secret", ""),
        "timeout": int(timeout * 1000),
        "enableRateLimit": False,
    }
    if fields.get("passphrase"):
        config["password"] = fields["passphrase"]
    exchange = exchange_class(config)
    box: dict[str, Any] = {}

    def call() -> None:
        try:
            if configure is not None:
                configure(exchange)
            exchange.fetch_balance()
            box["ok"] = True
        except Exception as e:  # classified below by type only
            box["error"] = e

    worker = threading.Thread(target=call, name="oxbot-key-check", daemon=True)
    worker.start()
    # fetch_balance may first load markets: a few requests, each under ccxt's own timeout.
    worker.join(timeout * 3)
    try:
        if worker.is_alive():
            return f"not checked: {provider} did not answer within {timeout * 3:g} s"
        error = box.get("error")
        if error is None:
            return "usable: the exchange accepted the key (balance read)"
        if isinstance(error, ccxt.AccountSuspended):
            return "rejected: the exchange says the account is suspended; check the account"
        if isinstance(error, ccxt.PermissionDenied):
            return "rejected: the key may not read balances; check its permissions"
        if isinstance(error, ccxt.AuthenticationError):
            return (
                "rejected: the exchange refused the key; check the key, its permissions "
                "and the IP whitelist"
            )
        if isinstance(error, ccxt.NetworkError):
            return f"not checked: cannot reach {provider} (network, DNS or timeout); try again"
        return f"not checked: {provider} answered with an error; try again later"
    finally:
        if not worker.is_alive():
            exchange.close()
