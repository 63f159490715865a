"""Settings: saved atomically, and a bad file gives defaults plus a warning, never a crash."""

from __future__ import annotations

import json
from pathlib import Path

from oxbot.storage.settings import Settings, load_settings, save_settings, settings_path


def test_missing_file_gives_defaults_silently() -> None:
    settings, warnings = load_settings()
    assert settings == Settings() and warnings == []
    assert settings.theme == "oxbot-dark" and settings.resume_bots is True


def test_round_trip(oxbot_home: Path) -> None:
    s = Settings(
        theme="nord",
        keymap={"start_bot": "f5"},
        resume_bots=False,
        status_every_min=10,
        llm_prices={"gpt-x": {"in": "0.15", "out": "0.6"}},
    )
    written = save_settings(s)
    assert written == oxbot_home / "config" / "settings.json"
    assert load_settings() == (s, [])
    assert [p.name for p in written.parent.iterdir()] == ["settings.json"]  # no temp left


def test_broken_json_gives_defaults_and_a_warning() -> None:
    path = settings_path()
    path.write_text('{"theme": "nord",', encoding="utf-8")
    settings, warnings = load_settings()
    assert settings == Settings()
    assert len(warnings) == 1 and "not valid JSON" in warnings[0] and str(path) in warnings[0]


def test_bad_fields_fall_back_one_by_one() -> None:
    settings_path().write_text(
        json.dumps(
            {
                "theme": "nord",
                "status_every_min": "often",
                "resume_bots": False,
                "llm_prices": {"m": {"in": "cheap"}},
                "colour": "red",
            }
        ),
        encoding="utf-8",
    )
    settings, warnings = load_settings()
    assert settings.theme == "nord" and settings.resume_bots is False  # the good ones kept
    assert settings.status_every_min == 5 and settings.llm_prices == {}
    text = "\n".join(warnings)
    assert "status_every_min" in text and "llm_prices" in text and "'colour'" in text


def test_not_an_object() -> None:
    settings_path().write_text("[1, 2]", encoding="utf-8")
    settings, warnings = load_settings()
    assert settings == Settings() and "JSON object" in warnings[0]
