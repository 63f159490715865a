"""Where an exchange's requests go: the production API, its sandbox (testnet), another URL (a
proxy, a self-hosted gateway, a local fake), a hostname variant, through an HTTP or SOCKS proxy.

One ``Endpoint`` per exchange id, built from the user's settings by the composition root and
applied to every ccxt client the engine, the cockpit and the CLI make, so a bot pointed at a
testnet is pointed there everywhere. ccxt's own switches are used: ``set_sandbox_mode`` (which
swaps ``urls['api']`` for ``urls['test']``), ``hostname`` (the ``{hostname}`` in the URLs of
exchanges such as OKX and Bybit), ``httpProxy`` / ``httpsProxy`` / ``socksProxy``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from oxbot.engine.errors import ConfigError

from .quirks import has_sandbox

PROXY_SCHEMES = ("http", "https", "socks4", "socks5", "socks5h")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """How to reach one exchange. ``url`` sends every API group there (keeping each group's
    path); ``urls`` sets chosen groups (ccxt's ``urls['api']`` keys: ``public``, ``private``,
    ``rest``, ...) to full base URLs; ``options`` are ccxt options (``recvWindow``, ...)."""

    sandbox: bool = False
    url: str = ""
    urls: Mapping[str, str] = field(default_factory=dict)
    hostname: str = ""
    proxy: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    timeout_ms: int | None = None

    def ccxt_config(self) -> dict[str, Any]:
        """Constructor options for ccxt (merged into the engine's defaults)."""
        out: dict[str, Any] = {}
        if self.options:
            out["options"] = dict(self.options)
        if self.timeout_ms:
            out["timeout"] = self.timeout_ms
        if self.hostname:
            out["hostname"] = self.hostname
        return out

    def apply(self, client: Any) -> None:
        """Point a freshly made ccxt client where this endpoint says."""
        if self.sandbox:
            if not has_sandbox(client):
                raise ConfigError(
                    f"{client.id} has no sandbox (testnet) in ccxt; remove "
                    f'"sandbox" from its settings or set its "url"'
                )
            client.set_sandbox_mode(True)
        if self.url:
            point_at(client, self.url)
        api = client.urls.get("api")
        for group, base in self.urls.items():
            if isinstance(api, dict):
                if group not in api:
                    raise ConfigError(
                        f"{client.id} has no API group {group!r}; its groups "
                        f"are {', '.join(sorted(api))}"
                    )
                api[group] = base
            elif group in ("api", "rest", "public", "private"):
                client.urls["api"] = base
        if self.proxy:
            scheme = urlsplit(self.proxy).scheme.lower()
            attr = (
                "socksProxy"
                if scheme.startswith("socks")
                else ("httpsProxy" if scheme == "https" else "httpProxy")
            )
            setattr(client, attr, self.proxy)


def point_at(client: Any, base_url: str) -> None:
    """Send every API group of ``client`` to ``base_url`` (scheme and host), keeping paths:
    for testnets, proxies and the fake exchanges in tests."""
    base = urlsplit(base_url)
    api = client.urls.get("api")
    if isinstance(api, str):
        client.urls["api"] = base._replace(path=urlsplit(api).path).geturl()
        return
    for key, url in list(api.items()):
        if isinstance(url, str):
            api[key] = base._replace(path=urlsplit(url).path).geturl()
        elif isinstance(url, dict):  # nested groups (some exchanges)
            for sub, u in list(url.items()):
                if isinstance(u, str):
                    url[sub] = base._replace(path=urlsplit(u).path).geturl()


def check_url(value: str, what: str) -> str:
    """``value`` if it is an http(s) URL with a host; ConfigError naming ``what`` otherwise."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{what} must be an http(s) URL such as https://testnet.binance.vision, not {value!r}"
        )
    return value


def check_proxy(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme.lower() not in PROXY_SCHEMES or not parts.hostname:
        raise ConfigError(
            f"proxy must look like http://host:port or socks5://host:port "
            f"(schemes: {', '.join(PROXY_SCHEMES)}), not {value!r}"
        )
    return value


def configurer(endpoints: Mapping[str, Endpoint]) -> Callable[[Any], None]:
    """``configure(client)`` for ExchangeClients: applies the endpoint of the client's id."""

    def configure(client: Any) -> None:
        endpoint = endpoints.get(str(client.id))
        if endpoint is not None:
            endpoint.apply(client)

    return configure
