"""The `alerts` settings (strictly read, clear messages) and where alert URLs are found: the
environment variable first, then the keyring (in-memory test keyring)."""

from __future__ import annotations

import json
import os

import keyring
import keyring.core
import pytest
from memory_keyring import MemoryKeyring

from oxbot.app.runtime import alert_options
from oxbot.storage import alert_urls, secrets
from oxbot.storage.settings import ALERT_EVENTS, load_alert_settings, load_settings


def write(tmp_path, data) -> object:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(data))
    return path


def test_alert_settings_read_strictly_with_the_key_named(tmp_path):
    path = write(tmp_path, {"alerts": {"phone": {"events": ["fill", "pnaic"]}}})
    routes, error = load_alert_settings(path)
    assert routes == {}
    assert error.startswith(f"{path}: alerts.phone.events: unknown alert event 'pnaic'")
    assert "engine_stopped" in error and "no alerts are sent" in error

    path = write(tmp_path, {"alerts": {"phone": {"per_minute": 0}}})
    assert "alerts.phone.per_minute" in load_alert_settings(path)[1]
    path = write(tmp_path, {"alerts": {"phone": {"url": "tgram://secret"}}})
    assert "alerts.phone.url" in load_alert_settings(path)[1]  # no URL in the file, ever

    path = write(tmp_path, {"alerts": {"phone": {}}, "theme": "oxbot-dark"})
    routes, error = load_alert_settings(path)
    assert error == "" and routes["phone"].events == list(ALERT_EVENTS)
    assert routes["phone"].per_minute == 6


def test_a_bad_alerts_entry_keeps_the_other_settings(tmp_path):
    path = write(tmp_path, {"alerts": {"Phone!": {}}, "resume_bots": False})
    settings, warnings = load_settings(path)
    assert settings.resume_bots is False and settings.alerts == {}
    assert any("alerts" in w and "lowercase" in w for w in warnings)


def test_runtime_routes_from_settings(tmp_path):
    path = write(tmp_path, {"alerts": {"a": {"events": ["panic"], "per_minute": 2}, "b": {}}})
    routes = alert_options(path)["alerts"]
    assert [(r.name, r.events, r.per_minute) for r in routes] == [
        ("a", frozenset({"panic"}), 2),
        ("b", frozenset(ALERT_EVENTS), 6),
    ]
    assert alert_options(tmp_path / "missing.json") == {"alerts": []}


@pytest.fixture
def kr(monkeypatch):
    for name in list(os.environ):
        if name.startswith("OXBOT_"):
            monkeypatch.delenv(name)
    previous = keyring.core._keyring_backend
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    monkeypatch.setattr(secrets, "_stuck", None)
    yield backend
    keyring.core._keyring_backend = previous


def test_urls_from_the_environment_first_then_the_keyring(kr, monkeypatch):
    assert alert_urls.get_url("my-phone") is None
    alert_urls.set_url("my-phone", "ntfy://from-keyring")
    assert kr.store[("oxbot", "alert:my-phone")] == "ntfy://from-keyring"
    assert alert_urls.get_url("my-phone") == "ntfy://from-keyring"
    assert alert_urls.env_var("my-phone") == "OXBOT_ALERT_MY_PHONE_URL"
    monkeypatch.setenv("OXBOT_ALERT_MY_PHONE_URL", "ntfy://from-env")
    assert alert_urls.get_url("my-phone") == "ntfy://from-env"
    assert alert_urls.delete_url("my-phone") is True
    assert alert_urls.delete_url("my-phone") is False
