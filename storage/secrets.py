"""API keys for exchanges and LLM providers: the OS keyring, or environment variables.

Where keys live
    The OS keyring (``keyring`` library), service name ``oxbot``, one entry per provider whose
    username is the provider id (``binance``, ``openai``) and whose password is a JSON object of
    that provider's fields (``{"api_key": ..., "secret": ...}``). One JSON entry rather than one
    per field so that a save is a single write that is read back whole: the fields of a provider
    can never be half updated, and each operation is one keyring round trip under one deadline.
    The keyring cannot list its entries, so an index entry (username ``__index__``) holds the
    provider names; it is a convenience for ``list``, never a source of secrets.

    Environment variables ``OXBOT_<PROVIDER>_<FIELD>`` (``OXBOT_BINANCE_API_KEY``,
    ``OXBOT_OKX_PASSPHRASE``) are an explicit, read-only source, reported as ``env``. They win
    over the keyring: an operator who exports them means them (CI, containers, a one-off test
    key), and a headless engine that has them never has to touch the keyring at all.

    oxbot never writes a key to a file of its own, and never falls back to one silently.

Deadlines
    Every keyring call runs on a daemon thread and is abandoned after :data:`DEADLINE` seconds,
    so a locked or absent keyring cannot hang the UI or the engine. While an abandoned call is
    still stuck, further calls fail at once instead of piling up more stuck threads.

Every function here is synchronous and returns plain data; errors are :class:`SecretsError`
whose text names the fix and never contains a key.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from oxbot.engine.errors import SecretsError, UsageError

from .redact import register_secret

SERVICE = "oxbot"
INDEX_ACCOUNT = "__index__"
DEADLINE = 4.0  # seconds per keyring call; < 5 so a CLI command (start-up included) ends in 5 s
ENV_PREFIX = "OXBOT_"

NO_BACKEND_FIXES = (
    "oxbot keeps API keys only in the OS keyring. Fixes:\n"
    "  1. without a desktop session (SSH, tmux), run oxbot inside a D-Bus session with an "
    "unlocked gnome-keyring (apt install dbus gnome-keyring):\n"
    "     dbus-run-session -- sh -c 'echo -n PASSWORD | gnome-keyring-daemon --unlock "
    "--components=secrets >/dev/null; oxbot ...'\n"
    "  2. or use an encrypted file: pip install 'oxbot[cryptfile]', then export "
    "PYTHON_KEYRING_BACKEND=keyrings.cryptfile.cryptfile.CryptFileKeyring and "
    "KEYRING_CRYPTFILE_PASSWORD=...\n"
    "  3. or (read-only) set environment variables, e.g. OXBOT_BINANCE_API_KEY and "
    "OXBOT_BINANCE_SECRET"
)
_TIMEOUT = (
    "the keyring did not answer within {s:g} s; is it locked, or waiting for a password prompt "
    "nobody can see? Unlock it (gnome-keyring-daemon --unlock) and try again.\n"
)


# --- providers -----------------------------------------------------------------------------------


class FieldSpec(NamedTuple):
    """One field a provider needs; ``label`` is what the prompt asks."""

    name: str
    label: str
    required: bool = True


class ProviderSpec(NamedTuple):
    """A provider id, its kind ("exchange" or "llm") and the fields of its key, in prompt order."""

    name: str
    kind: str
    fields: tuple[FieldSpec, ...]


_API_KEY = FieldSpec("api_key", "API key")
_SECRET = FieldSpec("secret", "API secret")
_PASSPHRASE = FieldSpec("passphrase", "API passphrase")
_OPTIONAL_PASSPHRASE = FieldSpec("passphrase", "API passphrase (empty if none)", False)
FIELD_NAMES_UPPER = ("API_KEY", "SECRET", "PASSPHRASE")
_PROVIDER_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,39}$")


def _is_ccxt_exchange(name: str) -> bool:
    """Whether ccxt has an exchange module of that id, without importing ccxt (slow)."""
    import importlib.util  # noqa: PLC0415

    spec = importlib.util.find_spec("ccxt")
    locations = spec.submodule_search_locations if spec else None
    return any(os.path.isfile(os.path.join(d, f"{name}.py")) for d in locations or ())


def provider_spec(provider: str) -> ProviderSpec:
    """The fields of ``provider`` (case-insensitive). UsageError for a provider oxbot can't use.

    An exchange's fields come from ccxt's ``requiredCredentials`` (engine/exchange/quirks.py):
    a passphrase when ccxt says ``password``, none when a key and its secret are all it asks,
    an optional one when ccxt asks for something else. An LLM's from engine/llm/catalog.py."""
    name = provider.strip().lower()
    if _PROVIDER_ID.match(name) and name != "base" and _is_ccxt_exchange(name):
        from oxbot.engine.exchange import quirks  # noqa: PLC0415 - imports ccxt when asked

        if quirks.required_credentials(name) is not None:
            if quirks.needs_passphrase(name):
                return ProviderSpec(name, "exchange", (_API_KEY, _SECRET, _PASSPHRASE))
            if quirks.key_and_secret_only(name):
                return ProviderSpec(name, "exchange", (_API_KEY, _SECRET))
            return ProviderSpec(name, "exchange", (_API_KEY, _SECRET, _OPTIONAL_PASSPHRASE))
    from oxbot.engine.llm import catalog  # noqa: PLC0415 - the package loads pandas

    llm = catalog.PROVIDERS
    if name in llm:
        return ProviderSpec(name, "llm", (_API_KEY,) if llm[name].takes_key else ())
    if name in catalog.OTHER_KEY_NAMES or name in catalog.OTHER_KEYLESS_NAMES:
        return ProviderSpec(name, "llm", (_API_KEY,) if name in catalog.OTHER_KEY_NAMES else ())
    raise UsageError(
        f"unknown provider {provider!r}; use a ccxt exchange id (binance, okx, kraken, ...) or "
        f"an LLM provider ({', '.join(llm)})"
    )


class SecretEntry(NamedTuple):
    """One row of :func:`list_secrets`: where a provider's key comes from, values masked."""

    provider: str
    source: str  # "keyring" or "env"
    fields: dict[str, str]  # field name -> masked value
    in_use: bool  # False for a keyring entry shadowed by environment variables


class LoadedSecret(NamedTuple):
    """A provider's fields, in clear, and where they came from ("env" or "keyring")."""

    provider: str
    source: str
    fields: dict[str, str]


# --- masking and names -------------------------------------------------------------------------

_PUBLIC_PREFIXES = ("sk-ant-", "sk-proj-", "sk-or-v1-", "sk-or-", "sk-")


def mask(value: str) -> str:
    """A display form that shows at most 4 characters of the secret: ``sk-…a1b2``, ``…b2``.

    A well-known type prefix such as ``sk-`` is kept: it is identical for every key of that kind.
    """
    prefix = next((p for p in _PUBLIC_PREFIXES if value.startswith(p)), "")
    rest = value[len(prefix) :]
    if len(rest) >= 16:
        return f"{prefix}…{rest[-4:]}"
    if len(rest) >= 8:
        return f"{prefix}…{rest[-2:]}"
    return "…" if value else ""


def env_var(provider: str, field: str) -> str:
    """The environment variable that provides ``field`` of ``provider``: OXBOT_BINANCE_API_KEY."""
    return ENV_PREFIX + re.sub(r"[^A-Z0-9]", "_", f"{provider}_{field}".upper())


# --- the deadline ------------------------------------------------------------------------------

_stuck_lock = threading.Lock()
_stuck: threading.Thread | None = None


def _with_deadline[T](fn: Callable[..., T], *args: Any) -> T:
    """Run one keyring call on a daemon thread; give up after DEADLINE seconds."""
    global _stuck
    with _stuck_lock:
        if _stuck is not None and _stuck.is_alive():
            raise SecretsError(
                "an earlier keyring call is still stuck; " + _TIMEOUT.format(s=DEADLINE).rstrip()
            )
    values: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            values.append(fn(*args))
        except BaseException as e:  # handed to the caller's thread below
            errors.append(e)

    worker = threading.Thread(target=run, name="oxbot-keyring", daemon=True)
    worker.start()
    worker.join(DEADLINE)
    if worker.is_alive():
        with _stuck_lock:
            _stuck = worker
        raise SecretsError(_TIMEOUT.format(s=DEADLINE) + NO_BACKEND_FIXES)
    if errors:
        raise _translate(errors[0]) from None
    return values[0]


def _translate(error: BaseException) -> SecretsError:
    """A keyring/D-Bus failure as a SecretsError. The backend's own text is left out on purpose:
    it is not ours and could, in principle, echo what was being stored."""
    if isinstance(error, SecretsError):
        return error
    from keyring import errors  # noqa: PLC0415

    kind = type(error).__name__  # used to classify only: class names are not for users
    if isinstance(error, errors.KeyringLocked):
        return SecretsError(
            "the keyring is locked and could not be unlocked here (no one to answer the prompt). "
            "Unlock it first, e.g. `echo -n PASSWORD | gnome-keyring-daemon --unlock`.\n"
            + NO_BACKEND_FIXES
        )
    if isinstance(error, errors.NoKeyringError | errors.InitError) or "NotAvailable" in kind:
        return SecretsError("no usable keyring backend was found.\n" + NO_BACKEND_FIXES)
    return SecretsError("the keyring failed to answer.\n" + NO_BACKEND_FIXES)


# --- the backend -------------------------------------------------------------------------------


def _backend() -> Any:
    import keyring  # noqa: PLC0415

    return _with_deadline(keyring.get_keyring)


def _describe(kr: Any) -> str:
    return f"{type(kr).__module__}.{type(kr).__name__}"


_FRIENDLY = {
    "SecretService": "Secret Service",
    "macOS": "macOS Keychain",
    "Windows": "Windows Credential Locker",
    "kwallet": "KWallet",
    "cryptfile": "encrypted file",
    "libsecret": "Secret Service (libsecret)",
}


def friendly_name(kr: Any) -> str:
    """A keyring backend (object or dotted class path) as a person calls it: ``Secret
    Service``, ``macOS Keychain``, ..."""
    module = kr if isinstance(kr, str) else f"{type(kr).__module__}.{type(kr).__name__}"
    for key, name in _FRIENDLY.items():
        if key.lower() in module.lower():
            return name
    return module.rsplit(".", 2)[-2] if "." in module else module


def _unusable(kr: Any) -> bool:
    from keyring.backends import chainer, fail, null  # noqa: PLC0415

    if isinstance(kr, fail.Keyring | null.Keyring):
        return True  # fail raises on every call; null pretends to store and returns nothing
    if isinstance(kr, chainer.ChainerBackend):
        return not kr.backends
    return False


def backend_name() -> str:
    """The keyring backend in use, e.g. ``keyring.backends.SecretService.Keyring``; never raises.

    An unusable backend reads ``none (keyring.backends.fail.Keyring)``.
    """
    try:
        kr = _backend()
    except SecretsError as e:
        return f"none ({str(e).splitlines()[0]})"
    return f"none ({_describe(kr)})" if _unusable(kr) else _describe(kr)


def check_backend() -> str:
    """Return the usable backend's name, or raise SecretsError naming the fixes."""
    return _describe(_usable())


def _usable() -> Any:
    kr = _backend()
    if _unusable(kr):
        raise SecretsError("no usable keyring backend was found.\n" + NO_BACKEND_FIXES)
    return kr


def _get(kr: Any, account: str) -> str | None:
    password: str | None = _with_deadline(kr.get_password, SERVICE, account)  # keyring: untyped
    return password


def _put(kr: Any, account: str, value: str) -> None:
    """Write, then read back: a backend that pretends to save must not be trusted."""
    _with_deadline(kr.set_password, SERVICE, account, value)
    if _get(kr, account) != value:
        raise SecretsError(
            f"the keyring ({friendly_name(kr)}) accepted the save but reading it back did not "
            "return it; this backend does not keep keys.\n" + NO_BACKEND_FIXES
        )


# --- the index (the keyring cannot enumerate) ----------------------------------------------------


def _read_index(kr: Any) -> list[str]:
    raw = _get(kr, INDEX_ACCOUNT)
    try:
        names = json.loads(raw) if raw else []
    except ValueError:
        names = []  # a damaged index only loses the listing, never a key: rebuild it
    return sorted({n for n in names if isinstance(n, str)})


def _update_index(kr: Any, add: str | None = None, remove: str | None = None) -> None:
    # Two processes saving at once could each overwrite the other's addition; re-read after the
    # write and merge again until our change is visible.
    for _ in range(3):
        names = set(_read_index(kr))
        if add:
            names.add(add)
        if remove:
            names.discard(remove)
        _with_deadline(kr.set_password, SERVICE, INDEX_ACCOUNT, json.dumps(sorted(names)))
        now = set(_read_index(kr))
        if (not add or add in now) and (not remove or remove not in now):
            return


# --- reading -----------------------------------------------------------------------------------


def _from_env(spec: ProviderSpec, environ: Mapping[str, str]) -> dict[str, str] | None:
    found = {
        f.name: environ[env_var(spec.name, f.name)]
        for f in spec.fields
        if environ.get(env_var(spec.name, f.name))
    }
    if not found:
        return None
    missing = [
        env_var(spec.name, f.name) for f in spec.fields if f.required and f.name not in found
    ]
    if missing:
        raise SecretsError(
            f"{', '.join(env_var(spec.name, n) for n in found)} is set but "
            f"{', '.join(missing)} is not; set all of them or none."
        )
    return found


def _decode(provider: str, raw: str | None) -> dict[str, str] | None:
    if not raw:
        return None
    try:
        fields = json.loads(raw)
    except ValueError:
        fields = None
    if not isinstance(fields, dict):
        raise SecretsError(
            f"the keyring entry for {provider} is not in oxbot's format; "
            f"store it again with `oxbot keys set {provider}`."
        )
    return {str(k): str(v) for k, v in fields.items() if v}


def _register(fields: Mapping[str, str]) -> None:
    for value in fields.values():
        register_secret(value)


def load_secret(provider: str) -> LoadedSecret | None:
    """The fields of ``provider`` and their source: environment variables first, then keyring.

    Returns None when neither has them. Raises UsageError for an unknown provider and
    SecretsError when the keyring must be asked and cannot answer.
    """
    spec = provider_spec(provider)
    if not spec.fields:
        return LoadedSecret(spec.name, "none needed", {})
    env_fields = _from_env(spec, os.environ)
    if env_fields:
        _register(env_fields)
        return LoadedSecret(spec.name, "env", env_fields)
    fields = _decode(spec.name, _get(_usable(), spec.name))
    if not fields:
        return None
    _register(fields)
    return LoadedSecret(spec.name, "keyring", fields)


def get_secret(provider: str) -> dict[str, str] | None:
    """The fields of ``provider`` (``{"api_key": ..., "secret": ...}``) or None; see load_secret."""
    loaded = load_secret(provider)
    return loaded.fields if loaded else None


def postgres_password(account: str) -> str | None:
    """A PostgreSQL password kept in the keyring (service ``oxbot``, account
    ``postgres/user@host:port``, set with ``keyring set oxbot postgres/user@host:port``); None
    when there is none or no keyring can answer (PGPASSFILE / ~/.pgpass is then read)."""
    try:
        value = _get(_usable(), account)
    except SecretsError:
        return None
    if value:
        register_secret(value)
    return value or None


def list_secrets(include_keyring: bool = True) -> list[SecretEntry]:
    """Every provider with a key, from the environment and (if asked) the keyring, masked.

    Raises SecretsError when the keyring is asked and cannot answer; pass
    ``include_keyring=False`` to list the environment alone.
    """
    entries: list[SecretEntry] = []
    env_names: set[str] = set()
    pattern = re.compile(rf"^{ENV_PREFIX}(.+)_({'|'.join(FIELD_NAMES_UPPER)})$")
    for name in sorted(
        {m.group(1).lower() for v in os.environ if (m := pattern.match(v)) and os.environ[v]}
    ):
        try:
            spec = provider_spec(name)
            fields = _from_env(spec, os.environ)
        except (UsageError, SecretsError):
            continue  # not ours, or incomplete: `keys check` reports the latter
        if fields:
            _register(fields)
            env_names.add(spec.name)
            entries.append(SecretEntry(spec.name, "env", _masked(fields), True))
    if include_keyring:
        kr = _usable()
        for name in _read_index(kr):
            fields = _decode(name, _get(kr, name))
            if fields:  # deleted behind our back: the index is only a hint
                _register(fields)
                entries.append(SecretEntry(name, "keyring", _masked(fields), name not in env_names))
    return entries


def _masked(fields: Mapping[str, str]) -> dict[str, str]:
    return {k: mask(v) for k, v in fields.items()}


# --- writing -----------------------------------------------------------------------------------


def set_secret(provider: str, fields: Mapping[str, str]) -> str:
    """Store ``fields`` for ``provider`` in the keyring, read them back, and return the backend.

    Required fields must be present and non-empty, unknown fields are refused (UsageError).
    """
    spec = provider_spec(provider)
    clean = {k: v.strip() for k, v in fields.items() if v and v.strip()}
    unknown = sorted(set(clean) - {f.name for f in spec.fields})
    if unknown:
        raise UsageError(
            f"{spec.name} has no field {', '.join(unknown)}; its fields are "
            f"{', '.join(f.name for f in spec.fields) or 'none'}."
        )
    missing = [f.name for f in spec.fields if f.required and f.name not in clean]
    if missing:
        raise UsageError(f"{spec.name} needs {', '.join(missing)}; nothing was saved.")
    if not spec.fields:
        raise UsageError(f"{spec.name} needs no key; nothing to save.")
    _register(clean)
    kr = _usable()
    _put(kr, spec.name, json.dumps(clean, ensure_ascii=False))
    _update_index(kr, add=spec.name)
    return _describe(kr)


def delete_secret(provider: str) -> bool:
    """Remove ``provider``'s keyring entry. True if there was one. Environment variables stay."""
    from keyring.errors import PasswordDeleteError  # noqa: PLC0415

    spec = provider_spec(provider)
    kr = _usable()
    existed = _get(kr, spec.name) is not None

    def delete() -> None:
        try:
            kr.delete_password(SERVICE, spec.name)
        except PasswordDeleteError:
            pass  # gone already (another process): the outcome we want

    if existed:
        _with_deadline(delete)
        if _get(kr, spec.name) is not None:
            raise SecretsError(
                f"the keyring ({_describe(kr)}) still holds {spec.name} "
                "after deleting it; try again or remove it with seahorse."
            )
    _update_index(kr, remove=spec.name)
    return existed


def key_resolver() -> Callable[[str], str | None]:
    """For the LLM layer: a callable ``provider -> api key`` (None when the provider has none).

    Raises SecretsError (from the call) when the keyring cannot answer.
    """

    def resolve(provider: str) -> str | None:
        fields = get_secret(provider)
        return fields.get("api_key") if fields else None

    return resolve
