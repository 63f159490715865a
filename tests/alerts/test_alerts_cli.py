"""`oxbot alerts add|list|test|remove` in-process, with the project's in-memory test keyring
(tests/support/memory_keyring.py) and a local webhook: the URL goes to the keyring and never
into settings.json, `test` says delivered or failed with the reason, a bad URL names apprise's
schemes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import keyring
import keyring.core
import pytest
from memory_keyring import MemoryKeyring
from module_loading import load_by_path

from oxbot.cli.main import main
from oxbot.storage import secrets

hooks = load_by_path("alerts_webhook", Path(__file__).resolve().parent / "alerts_webhook.py")


@pytest.fixture
def kr(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith("OXBOT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("OXBOT_HOME", str(tmp_path))
    previous = keyring.core._keyring_backend
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    monkeypatch.setattr(secrets, "_stuck", None)
    yield backend
    keyring.core._keyring_backend = previous


@pytest.fixture
def webhook():
    hook = hooks.Webhook()
    yield hook
    hook.close()


def settings_file(tmp_path: Path) -> Path:
    return tmp_path / "config" / "settings.json"


def test_add_list_test_remove(kr, webhook, tmp_path, capsys):
    assert main(["alerts", "add", "phone", webhook.url, "--events", "fill,panic"]) == 0
    out = capsys.readouterr().out
    assert "saved alert phone" in out and webhook.url not in out
    text = settings_file(tmp_path).read_text()
    assert webhook.url not in text and str(webhook.port) not in text
    assert json.loads(text)["alerts"] == {"phone": {"events": ["fill", "panic"], "per_minute": 6}}
    assert kr.store[("oxbot", "alert:phone")] == webhook.url

    assert main(["alerts", "list"]) == 0
    out = capsys.readouterr().out
    assert "phone" in out and "fill, panic" in out and webhook.url not in out

    assert main(["alerts", "test", "phone"]) == 0
    assert capsys.readouterr().out.strip() == "phone: delivered"
    assert webhook.messages() == ["oxbot test alert (phone): alerts reach you here."]

    webhook.status = 500
    assert main(["alerts", "test"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("phone: failed: ") and "500" in out

    assert main(["alerts", "remove", "phone"]) == 0
    assert json.loads(settings_file(tmp_path).read_text())["alerts"] == {}
    assert ("oxbot", "alert:phone") not in kr.store
    assert main(["alerts", "remove", "phone"]) == 1


def test_a_bad_url_or_event_saves_nothing(kr, tmp_path, capsys):
    assert main(["alerts", "add", "x", "telegram-please://abc"]) == 2
    err = capsys.readouterr().err
    assert "not an apprise URL" in err and "tgram://" in err and "nothing was saved" in err
    assert main(["alerts", "add", "x", "json://127.0.0.1:9/x", "--events", "fills"]) == 2
    err = capsys.readouterr().err
    assert "unknown alert event 'fills'" in err and "engine_stopped" in err
    assert main(["alerts", "add", "Bad Name", "json://127.0.0.1:9/x"]) == 2
    assert "lowercase" in capsys.readouterr().err
    assert not settings_file(tmp_path).exists() and kr.store == {}


def test_a_broken_settings_file_is_not_rewritten(kr, tmp_path, capsys):
    path = settings_file(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text('{"theme": 5, "alerts": {}}')
    assert main(["alerts", "add", "x", "json://127.0.0.1:9/x"]) == 2
    assert "fix it first" in capsys.readouterr().err
    assert path.read_text() == '{"theme": 5, "alerts": {}}' and kr.store == {}
