"""The cockpit's settings read (``load_ui_settings``): the same values and the same warnings as
``load_settings``, word for word, and no pydantic for a plain file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from oxbot.storage.settings import UiSettings, load_settings, load_ui_settings, save_settings

PLAIN = {
    "alerts": {"phone": {"events": ["fill", "panic"]}, "desk": {}},
    "exchanges": {},
    "keymap": {"start_bot": "s,f5"},
    "llm_prices": {"gpt-x": {"in": "0.15", "out": "0"}},
    "resume_bots": False,
    "status_every_min": 1440,
    "theme": "nord",
}
FILES = [
    PLAIN,
    {},
    {"theme": "nord"},
    {"status_every_min": "often", "colour": "red", "theme": "x"},
    {"status_every_min": 1441},
    {"status_every_min": -1},
    {"status_every_min": 10.0},
    {"status_every_min": True},
    {"resume_bots": "yes"},
    {"resume_bots": 1},
    {"theme": 3},
    {"theme": "\ud800"},
    {"keymap": {"a": 1}},
    {"keymap": []},
    {"llm_prices": {"m": {"in": "cheap"}}},
    {"llm_prices": {"m": {"in": "-1"}}},
    {"llm_prices": {"m": {"in": "NaN"}}},
    {"llm_prices": {"m": {"mid": "1"}}},
    {"llm_prices": {"m": {"in": 0.5}}},
    {"alerts": {"Phone!": {}}, "resume_bots": False},
    {"alerts": {"phone\n": {}}},
    {"alerts": {"p": {"events": ["nope"]}}},
    {"alerts": {"p": {"per_minute": 0}}},
    {"alerts": {"p": {"per_minute": 121}}},
    {"alerts": {"p": {"url": "tgram://x"}}},
    {"alerts": {"p": {"events": "fill"}}},
    {"exchanges": {"binance": {"sandbox": True}}},
    {"exchanges": {"binance": {"sandbox": True, "url": "https://x.example"}}},
    {"exchanges": []},
]


def _same(path: Path) -> UiSettings:
    model, warnings = load_settings(path)
    ui, ui_warnings = load_ui_settings(path)
    assert ui_warnings == warnings
    assert ui == UiSettings.of(model)
    assert ui.model() == model
    return ui


@pytest.mark.parametrize("data", FILES, ids=range(len(FILES)))
def test_same_values_and_warnings_as_the_model(tmp_path: Path, data: dict) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    _same(path)


@pytest.mark.parametrize(
    "text", [None, b'{"theme": "nord",', b"[1, 2]", b"\xff\xfe", b"[" * 100_000]
)
def test_same_for_missing_and_unreadable_files(tmp_path: Path, text: bytes | None) -> None:
    path = tmp_path / "settings.json"
    if text is not None:
        path.write_bytes(text)
    _same(path)


def test_a_saved_theme_round_trips_through_the_model(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(PLAIN), encoding="utf-8")
    ui, _ = load_ui_settings(path)
    save_settings(ui.model_copy(update={"theme": "gruvbox"}), path)
    model, warnings = load_settings(path)
    assert warnings == [] and model.theme == "gruvbox" and model.alerts["desk"].per_minute == 6
    assert json.loads(path.read_text(encoding="utf-8"))["alerts"]["phone"]["per_minute"] == 6


def test_a_plain_file_is_read_without_pydantic(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(PLAIN), encoding="utf-8")
    probe = (
        "import sys\nfrom pathlib import Path\n"
        "from oxbot.storage.settings import load_ui_settings\n"
        f"s, w = load_ui_settings(Path({str(path)!r}))\n"
        "assert s.theme == 'nord' and w == []\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pydantic'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]"
