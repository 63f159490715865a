"""Alert URLs (apprise URLs hold tokens: a Telegram bot token, a Discord webhook secret) in the
OS keyring, beside the API keys of storage/secrets.py: service ``oxbot``, username
``alert:NAME``, password the URL. settings.json only names the alert and its events.

``OXBOT_ALERT_<NAME>_URL`` in the environment wins over the keyring (read-only, as for keys:
a container or CI sets it). Every keyring call runs under secrets' deadline; errors are
SecretsError whose text never contains the URL.
"""

from __future__ import annotations

import os
import re

from . import secrets
from .redact import register_secret

PREFIX = "alert:"


def env_var(name: str) -> str:
    """OXBOT_ALERT_PHONE_URL for the alert ``phone``."""
    return secrets.ENV_PREFIX + "ALERT_" + re.sub(r"[^A-Z0-9]", "_", name.upper()) + "_URL"


def get_url(name: str) -> str | None:
    """The URL of alert ``name`` (environment first, then keyring), or None."""
    url = os.environ.get(env_var(name))
    if not url:
        url = secrets._get(secrets._usable(), PREFIX + name)  # noqa: SLF001 - same package
    if url:
        register_secret(url)
    return url or None


def set_url(name: str, url: str) -> str:
    """Store ``url`` for ``name`` (read back); the keyring backend's friendly name."""
    register_secret(url)
    kr = secrets._usable()  # noqa: SLF001
    secrets._put(kr, PREFIX + name, url)  # noqa: SLF001
    return secrets.friendly_name(kr)


def delete_url(name: str) -> bool:
    """Remove the keyring entry of ``name``; True when there was one."""
    from keyring.errors import PasswordDeleteError  # noqa: PLC0415

    kr = secrets._usable()  # noqa: SLF001
    if secrets._get(kr, PREFIX + name) is None:  # noqa: SLF001
        return False

    def delete() -> None:
        try:
            kr.delete_password(secrets.SERVICE, PREFIX + name)
        except PasswordDeleteError:
            pass

    secrets._with_deadline(delete)  # noqa: SLF001
    return True
