"""`oxbot alerts add` as a new user meets it (issue 14 tryout): a plain http(s) webhook address
is answered with its apprise spelling (json:// / jsons://, apprise's "JSON" service, read in
apprise's plugin list: `apprise.Apprise().details()`), without the ~250 scheme names and
without echoing the URL; on a machine with no keyring the fixes name OXBOT_ALERT_<NAME>_URL
(README, Alerts), not the exchange key variables, and with that variable set the alert is saved
from it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import keyring
import keyring.core
import pytest
from keyring.backends import fail

from oxbot.cli.main import main
from oxbot.storage import secrets


@pytest.fixture
def no_keyring(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith("OXBOT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("OXBOT_HOME", str(tmp_path))
    previous = keyring.core._keyring_backend
    keyring.set_keyring(fail.Keyring())  # what a server without D-Bus gets
    monkeypatch.setattr(secrets, "_stuck", None)
    yield tmp_path
    keyring.core._keyring_backend = previous


def test_an_http_webhook_gets_its_apprise_spelling(no_keyring, capsys) -> None:
    url = "https://hooks.example.com/T0KEN123/notify"
    assert main(["alerts", "add", "team", url]) == 2
    err = capsys.readouterr().err
    assert err.startswith("oxbot: https:// is not an apprise URL") and "jsons://HOST/PATH" in err
    assert "T0KEN123" not in err  # the URL holds a token: never repeated
    assert len(err) < 300 and "zulip" not in err  # one line, not every scheme
    assert main(["alerts", "add", "x", "telegram-please://abc"]) == 2
    err = capsys.readouterr().err
    assert "tgram://" in err and "https://appriseit.com/services/" in err and len(err) < 400


def test_without_a_keyring_the_fix_is_the_alerts_variable(no_keyring, capsys) -> None:
    assert main(["alerts", "add", "hook", "json://127.0.0.1:9/x"]) == 1
    err = capsys.readouterr().err
    assert "no usable keyring backend" in err
    assert "export OXBOT_ALERT_HOOK_URL='URL'" in err and "Nothing was saved" in err
    assert "BINANCE" not in err and "Traceback" not in err
    assert not (Path(no_keyring) / "config" / "settings.json").exists()


def test_with_the_variable_set_the_alert_is_saved_from_it(no_keyring, capsys, monkeypatch):
    monkeypatch.setenv("OXBOT_ALERT_HOOK_URL", "json://127.0.0.1:9/x")
    assert main(["alerts", "add", "hook", "--events", "panic"]) == 0  # no prompt: the variable
    out = capsys.readouterr().out
    assert "saved alert hook: URL from $OXBOT_ALERT_HOOK_URL" in out and "127.0.0.1" not in out
    settings = json.loads((Path(no_keyring) / "config" / "settings.json").read_text())
    assert settings["alerts"] == {"hook": {"events": ["panic"], "per_minute": 6}}
    assert main(["alerts", "list"]) == 0
    assert "hook" in capsys.readouterr().out

    monkeypatch.delenv("OXBOT_ALERT_HOOK_URL")  # a new shell: the variable is gone
    assert main(["alerts", "test", "hook"]) == 1
    out = capsys.readouterr().out
    assert out.strip() == (
        "hook: failed: no keyring here and $OXBOT_ALERT_HOOK_URL is not set; "
        "export OXBOT_ALERT_HOOK_URL='URL'"
    )
    assert main(["alerts", "remove", "hook"]) == 0
    assert "removed alert hook (no keyring here to clear" in capsys.readouterr().out
    settings = json.loads((Path(no_keyring) / "config" / "settings.json").read_text())
    assert settings["alerts"] == {}
    assert main(["alerts", "remove", "hook"]) == 1  # gone: the keyring's error, exit 1
    assert "no usable keyring backend" in capsys.readouterr().err
