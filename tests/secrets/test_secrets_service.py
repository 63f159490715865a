"""Against a real Secret Service: gnome-keyring unlocked inside dbus-run-session."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

ServiceRunner = Callable[..., CompletedProcess[str]]
PY = sys.executable

ROUND_TRIP = r"""
import json, sys
from oxbot.storage import secrets
out = {"backend": secrets.check_backend()}
values = json.loads(sys.argv[1])
for provider, fields in values.items():
    secrets.set_secret(provider, fields)
out["got"] = {p: secrets.load_secret(p) for p in values}
out["listed"] = [list(e) for e in secrets.list_secrets()]
out["resolved_openai"] = secrets.key_resolver()("openai")
out["deleted"] = secrets.delete_secret("binance")
out["deleted_again"] = secrets.delete_secret("binance")
out["after_delete"] = secrets.get_secret("binance")
out["listed_after"] = [e.provider for e in secrets.list_secrets()]
print(json.dumps(out, ensure_ascii=False))
"""

VALUES = {
    "binance": {
        "api_key": "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",
        "secret": "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j",
    },
    "okx": {
        "api_key": "ключ-🔑-鍵-clé-0123456789",
        "secret": 'sëcrét "quoted" \\ back',
        "passphrase": "pass phrase with spaces ✓",
    },
    "openai": {"api_key": "sk-proj-Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA-a1b2"},
}


def test_round_trip_unicode_list_delete(secret_service: ServiceRunner, tmp_path: Path) -> None:
    script = tmp_path / "round_trip.py"
    script.write_text(ROUND_TRIP, encoding="utf-8")
    arg = json.dumps(VALUES).replace("'", "'\\''")
    result = secret_service(f"{PY} {script} '{arg}'")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["backend"] == "keyring.backends.SecretService.Keyring"
    for provider, fields in VALUES.items():
        assert out["got"][provider] == [provider, "keyring", fields]  # exact, unicode intact
    listed = {row[0]: row for row in out["listed"]}
    assert set(listed) == set(VALUES)
    assert listed["openai"][2] == {"api_key": "sk-proj-…a1b2"}
    assert listed["binance"][2] == {"api_key": "…Eh8A", "secret": "…Tj0j"}
    assert out["resolved_openai"] == VALUES["openai"]["api_key"]
    assert (out["deleted"], out["deleted_again"], out["after_delete"]) == (True, False, None)
    assert out["listed_after"] == ["okx", "openai"]
    for fields in VALUES.values():
        for value in fields.values():
            assert value not in json.dumps(out["listed"], ensure_ascii=False)


READER = r"""
import json, sys
from oxbot.storage import secrets
seen = [secrets.get_secret("binance") for _ in range(25)]
print(json.dumps(seen))
"""


def test_two_processes_read_at_once(secret_service: ServiceRunner, tmp_path: Path) -> None:
    (tmp_path / "reader.py").write_text(READER, encoding="utf-8")
    binance = VALUES["binance"]
    (tmp_path / "binance.json").write_text(json.dumps(binance))
    store = (
        f"{PY} -c 'import json; from oxbot.storage import secrets; "
        f'secrets.set_secret("binance", json.load(open("binance.json")))\''
    )
    result = secret_service(
        f"{store} && ({PY} reader.py > a.json & {PY} reader.py > b.json & wait)"
    )
    assert result.returncode == 0, result.stderr
    for name in ("a.json", "b.json"):
        seen = json.loads((tmp_path / name).read_text())
        assert seen == [binance] * 25


def test_cli_set_from_stdin_then_list_shows_masked_only(secret_service: ServiceRunner) -> None:
    key, secret = VALUES["binance"]["api_key"], VALUES["binance"]["secret"]
    oxbot = f"{PY} -m oxbot.cli.main"
    result = secret_service(
        f"{oxbot} keys set binance --stdin && echo ==LIST== && {oxbot} keys list"
        f" && echo ==CHECK== && {oxbot} keys check --no-network"
        f" && echo ==DELETE== && {oxbot} keys delete binance && {oxbot} keys list",
        stdin=f"{key}\n{secret}\n",
    )
    assert result.returncode == 0, result.stderr
    saved, rest = result.stdout.split("==LIST==")
    listing, rest = rest.split("==CHECK==")
    check, after = rest.split("==DELETE==")
    assert "saved binance" in saved and "read back: ok" in saved
    assert "binance   keyring   api_key=…Eh8A  secret=…Tj0j" in listing
    assert "keyring backend: keyring.backends.SecretService.Keyring" in check
    assert "binance: present (keyring)" in check
    assert "deleted binance" in after and "no keys" in after
    everything = result.stdout + result.stderr
    for value in (key, secret, key[:-4], secret[:8]):
        assert value not in everything
