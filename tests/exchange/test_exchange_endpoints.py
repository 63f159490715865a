"""Pointing an exchange elsewhere (testnet, gateway, proxy) is a setting, used by the cockpit, the
headless engine and the CLI alike; a broken one never sends orders to the real exchange.

ccxt's switches, as read in the installed ccxt: ``set_sandbox_mode(True)`` swaps
``urls['api']`` for ``urls['test']`` (base/exchange.py set_sandbox_mode) — Binance has test URLs
(testnet.binance.vision), OKX keeps its URLs and sends ``x-simulated-trading: 1`` (okx.py
set_sandbox_mode, options['sandboxMode']), Kraken has none; OKX builds its URL from
``urls['api']['rest'] = 'https://{hostname}'`` (okx.py sign), so ``hostname`` moves it;
``httpsProxy`` / ``httpProxy`` / ``socksProxy`` are ccxt's unified proxy settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from module_loading import load_by_path

from oxbot.engine.errors import ConfigError
from oxbot.engine.exchange.clients import ExchangeClients
from oxbot.engine.exchange.endpoints import Endpoint, configurer
from oxbot.storage.settings import load_exchange_settings

venues = load_by_path("_oxbot_exchange_tests_venues", Path(__file__).with_name("venues.py"))


def _settings(tmp_path: Path, exchanges: Any) -> Path:
    path = tmp_path / "config" / "settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"exchanges": exchanges}))
    return path


async def test_sandbox_hostname_and_proxy_reach_every_client(tmp_path: Path) -> None:
    path = _settings(
        tmp_path,
        {
            "binance": {"sandbox": True, "proxy": "http://127.0.0.1:3128"},
            "okx": {"hostname": "my.okx.com", "sandbox": True},
        },
    )
    exchanges, error = load_exchange_settings(path)
    assert error == ""
    clients = ExchangeClients(
        config={k: v.endpoint().ccxt_config() for k, v in exchanges.items()},
        configure=configurer({k: v.endpoint() for k, v in exchanges.items()}),
    )
    try:
        binance = clients.public("binance")
        assert binance.urls["api"]["public"].startswith("https://testnet.binance.vision")
        assert binance.httpProxy == "http://127.0.0.1:3128"
        okx = clients.public("okx")
        assert okx.hostname == "my.okx.com" and okx.options.get("sandboxMode") is True
    finally:
        await clients.close_all()


def test_an_exchange_without_a_sandbox_is_refused_clearly() -> None:
    import ccxt.async_support as ccxt

    client = ccxt.kraken()
    with pytest.raises(ConfigError, match="kraken has no sandbox"):
        Endpoint(sandbox=True).apply(client)


@pytest.mark.parametrize(
    "entry, words",
    [
        ({"url": "ftp://x"}, "url must be an http(s) URL"),
        ({"proxy": "gopher://h:1"}, "proxy must look like"),
        ({"sandbox": True, "url": "https://x.example"}, "either sandbox or url"),
        ({"urls": {"public": "nope"}}, "urls.public must be an http(s) URL"),
        ({"timeout_ms": 5}, "greater than or equal to 100"),
        ({"sanbox": True}, "Extra inputs are not permitted"),
    ],
)
def test_a_bad_entry_keeps_live_bots_stopped(tmp_path: Path, entry: Any, words: str) -> None:
    exchanges, error = load_exchange_settings(_settings(tmp_path, {"binance": entry}))
    assert exchanges == {}
    assert words in error and "LIVE bots stay stopped" in error


def test_an_unreadable_file_keeps_live_bots_stopped(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_bytes(b"\xff\xfe{not json")
    exchanges, error = load_exchange_settings(path)
    assert exchanges == {} and "cannot be read" in error


def _cli(
    args: list[str], home: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "oxbot.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OXBOT_HOME": str(home), **(env or {})},
    )


@pytest.mark.parametrize("kind", ["binance", "okx"])
async def test_the_cli_goes_where_the_settings_say(kind: str, tmp_path: Path) -> None:
    """`oxbot data download` and `oxbot keys check` reach the exchange through the user's
    settings (here: a gateway URL that is the fake), with keys from the environment."""
    import asyncio

    fake = venues.new_fake(kind)
    await fake.start()
    try:
        home = tmp_path / "home"
        _settings(home, {kind: {"url": fake.base_url, "timeout_ms": 3000}})
        out = tmp_path / "btc.csv"
        got = await asyncio.to_thread(
            _cli,
            [
                "data",
                "download",
                "--exchange",
                kind,
                "--symbol",
                "BTC/USDT",
                "--timeframe",
                "1m",
                "--since",
                "2023-11-14",
                "--until",
                "2023-11-14T22:00",
                "--out",
                str(out),
            ],
            home,
        )
        assert got.returncode == 0, got.stderr
        assert out.exists() and len(out.read_text().splitlines()) > 10
        creds = fake.credentials()
        env = {
            f"OXBOT_{kind.upper()}_API_KEY": creds["apiKey"],
            f"OXBOT_{kind.upper()}_SECRET": creds["secret"],
        }
        if creds.get("password"):
            env[f"OXBOT_{kind.upper()}_PASSPHRASE"] = creds["password"]
        checked = await asyncio.to_thread(_cli, ["keys", "check"], home, env)
        assert f"{kind}: present (env); usable" in checked.stdout, checked.stdout + checked.stderr
        assert any(e["path"].endswith(("account", "balance")) for e in fake.log)
    finally:
        await fake.stop()


def test_a_cli_command_refuses_broken_exchange_settings(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _settings(home, {"binance": {"url": "ftp://nowhere"}})
    got = _cli(
        [
            "data",
            "download",
            "--exchange",
            "binance",
            "--symbol",
            "BTC/USDT",
            "--timeframe",
            "1h",
            "--since",
            "2024-01-01",
            "--out",
            str(tmp_path / "x.csv"),
        ],
        home,
    )
    assert got.returncode == 2
    assert "url must be an http(s) URL" in got.stderr and "Traceback" not in got.stderr
    assert not (tmp_path / "x.csv").exists()


def test_which_keys_carry_a_passphrase_comes_from_ccxt() -> None:
    """ccxt's ``requiredCredentials['password']`` (okx.py, kucoin.py: True; binance: False)
    decides whether a LIVE bot's key check asks for a passphrase."""
    from oxbot.app.runtime import needs_passphrase

    assert needs_passphrase("okx") and needs_passphrase("kucoin")
    assert not needs_passphrase("binance") and not needs_passphrase("no-such-exchange")


def test_an_exchanges_processing_window_follows_its_ccxt_family() -> None:
    """OKX's 30 s covers its regional sites (ccxt's myokx and okxus derive from okx); a
    client's recvWindow, when it signs with one, wins."""
    import ccxt.async_support as ccxt_async

    from oxbot.engine.exchange.quirks import family, has_sandbox, processing_window_s

    okx, my = ccxt_async.okx(), ccxt_async.myokx()
    binance = ccxt_async.binance({"options": {"recvWindow": 5000}})
    assert family(my) == ("myokx", "okx")
    assert processing_window_s(okx) == processing_window_s(my) == 30.0
    assert processing_window_s(binance) == 5.0
    assert has_sandbox(okx) and not has_sandbox(ccxt_async.kucoin())
