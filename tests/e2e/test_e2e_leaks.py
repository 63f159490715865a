"""Leak scan: after a session with keys set and bots trading (one of them an LLM bot that really
sends its key to a local OpenAI-compatible server, which sometimes answers 401 echoing the key
back, as misbehaving proxies do), no key's bytes (nor base64 of them, at any alignment) appear in
the database (+ WAL), logs, exports, backtest files or the output of any command."""

from __future__ import annotations

import base64
import json
import re
import secrets
import shlex
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from waiting import wait_until

DATA = Path("/work/shared/data/ohlcv/binance_BTC-USDT_1h.csv")


def needles(key: str) -> list[bytes]:
    """The key, and base64 (standard and URL-safe) of it at each of the 3 byte alignments,
    keeping only the characters that depend on the key's bytes alone."""
    raw = key.encode()
    out = [raw]
    for pad in range(3):
        for enc in (base64.b64encode, base64.urlsafe_b64encode):
            text = enc(b"\0" * pad + raw)
            out.append(text[4 if pad else 0 : -4])
    return out


def scan(blobs: dict[str, bytes], keys: list[str]) -> list[str]:
    found = []
    for where, blob in blobs.items():
        for key in keys:
            for needle in needles(key):
                if needle in blob:
                    found.append(f"{where}: {needle[:12]!r}...")
    return found


def files_under(root: Path, skip: tuple[str, ...] = ()) -> dict[str, bytes]:
    return {
        str(p): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and not any(part in skip for part in p.parts)
    }


class FakeOpenAI(BaseHTTPRequestHandler):
    """POST /v1/chat/completions: a streamed decision; every third call a 401 echoing the key."""

    calls: list[str] = []
    lock = threading.Lock()

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length) or b"{}")
        auth = self.headers.get("Authorization", "")
        with self.lock:
            self.calls.append(auth)
            n = len(self.calls)
        if n % 3 == 0:
            data = json.dumps(
                {
                    "error": {
                        "message": f"Incorrect API key provided: {auth.removeprefix('Bearer ')}",
                        "type": "invalid_request_error",
                    }
                }
            ).encode()
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        action = "buy" if n % 2 else "close"
        reply = {
            "analysis": "test",
            "decisions": [
                {"symbol": "BTC/USDT", "action": action, "size_pct": 5, "reasoning": "e2e"}
            ],
        }
        content = json.dumps(reply)
        chunks = [
            {"choices": [{"delta": {"content": content[:20]}}]},
            {"choices": [{"delta": {"content": content[20:]}, "finish_reason": "stop"}]},
            {"choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 20}},
        ]
        stream = b"".join(f"data: {json.dumps(c)}\n\n".encode() for c in chunks)
        stream += b"data: [DONE]\n\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(stream)))
        self.end_headers()
        self.wfile.write(stream)
        del body


@pytest.fixture
def openai_server() -> Iterator[tuple[str, type[FakeOpenAI]]]:
    handler = type("Handler", (FakeOpenAI,), {"calls": [], "lock": threading.Lock()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", handler
    finally:
        server.shutdown()
        server.server_close()


def new_keys() -> dict[str, str]:
    return {
        "OXBOT_BINANCE_API_KEY": "bnk" + secrets.token_hex(20),
        "OXBOT_BINANCE_SECRET": "bns" + secrets.token_hex(24),
        "OXBOT_OPENAI_API_KEY": "sk-e2e-" + secrets.token_urlsafe(24),
    }


def llm_bot(url: str) -> tuple[str, ...]:
    return (
        "e-llm",
        "--strategy",
        "llm",
        "--param",
        "provider=openai",
        "--param",
        f"base_url={url}",
        "--param",
        "model=gpt-e2e",
        "--param",
        "timeout_s=5",
        "--param",
        "structured=prompt",
        "--symbols",
        "BTC/USDT",
        "--start",
    )


def test_env_keys_leak_nowhere(home, fast_bots, openai_server):
    url, server = openai_server
    keys = new_keys()
    env = {**home.env, **keys}
    for bot in fast_bots:
        home.ok("bots", "add", *bot, "--start", env=env)
    home.ok("bots", "add", *llm_bot(url), env=env)
    engine = home.spawn(
        "run", "--headless", "--sim-speed", "600", "--status-every", "0.02", env=env
    )
    engine.wait_ready()
    engine.wait_log(r"e-llm: (buy|sell) ", timeout=40)
    engine.wait_log(r"e-(sma|rsi): (buy|sell) ", timeout=20)
    # so a 401 echoing the key has been answered too
    wait_until(
        lambda: len(server.calls) >= 4,
        30,
        "4 calls to the fake OpenAI server",
        every=0.1,
        detail=lambda: f"calls: {len(server.calls)}",
    )
    assert all(c == f"Bearer {keys['OXBOT_OPENAI_API_KEY']}" for c in server.calls)

    outputs: dict[str, bytes] = {}
    for name, args in {
        "status": ("status", "--json"),
        "status-text": ("status",),
        "export": ("bots", "export"),
        "export-file": ("bots", "export", "--out", str(home.root / "bots.json")),
        "list": ("bots", "list", "--json"),
        "keys-list": ("keys", "list"),
        "backtest": (
            "backtest",
            "--strategy",
            "sma_cross",
            "--data",
            str(DATA),
            "--json",
            "--trades-out",
            str(home.root / "trades.csv"),
            "--equity-out",
            str(home.root / "equity.csv"),
        ),
    }.items():
        r = home.cli(*args, env=env)
        assert "Traceback" not in r.stderr, r.stderr
        outputs[f"`oxbot {name}` stdout"] = r.stdout.encode()
        outputs[f"`oxbot {name}` stderr"] = r.stderr.encode()
    assert json.loads(outputs["`oxbot status` stdout"])["bots_running"] == 3
    assert (home.root / "trades.csv").exists() and (home.root / "bots.json").exists()
    code, _ = engine.terminate()
    assert code == 0

    log = engine.text()
    assert re.search(r"401|API key", log), "the echoed-key error never reached the log"
    blobs = {**outputs, **files_under(home.root)}
    key = keys["OXBOT_OPENAI_API_KEY"]
    probe = {"probe": b"x" + base64.b64encode(b"ab" + key.encode()) + b"y"}
    assert scan(probe, [key]), "the scan itself must find base64 of a key at any offset"
    assert str(home.db) in blobs and str(engine.log) in blobs
    assert home.query("SELECT COUNT(*) FROM decisions")[0][0] > 0
    assert scan(blobs, list(keys.values())) == []


def test_keyring_keys_leak_nowhere(home, fast_bots, openai_server):
    """The same with the keys in a real Secret Service (gnome-keyring in dbus-run-session)."""
    missing = [t for t in ("dbus-run-session", "gnome-keyring-daemon") if not shutil.which(t)]
    if missing:
        pytest.skip(f"{', '.join(missing)} not found: apt-get install -y dbus gnome-keyring")
    url, server = openai_server
    keys = new_keys()
    (home.root / "keyring-home").mkdir()
    env = {**home.env, "HOME": str(home.root / "keyring-home")}
    home.ok("bots", "add", *fast_bots[0], "--start")
    ox = f"{' '.join(home_cmd(home))}"
    # The LLM bot is added once its key is in the keyring: `bots add` refuses a bot whose
    # provider needs a key that is not set.
    script = f"""
set -e
echo -n test | gnome-keyring-daemon --unlock --components=secrets >/dev/null
printf '%s\\n' "$K_OPENAI" | {ox} keys set openai --stdin >/dev/null
printf '%s\\n%s\\n' "$K_BIN" "$K_BINS" | {ox} keys set binance --stdin >/dev/null
{ox} bots add {shlex.join(llm_bot(url))} >/dev/null
{ox} run --headless --sim-speed 600 --status-every 0.02 2>"$ROOT/keyring-engine.log" &
pid=$!
for i in $(seq 1 200); do
  grep -q 'e-llm: \\(buy\\|sell\\) ' "$ROOT/keyring-engine.log" && break; sleep 0.1
done
{ox} status --json > "$ROOT/status.json"
{ox} bots export --out "$ROOT/export.json" > /dev/null
{ox} keys list > "$ROOT/keys-list.txt" 2>&1
kill -TERM $pid
wait $pid
"""
    import subprocess

    r = subprocess.run(
        ["dbus-run-session", "--", "sh", "-c", script],
        env={
            **env,
            "ROOT": str(home.root),
            "K_OPENAI": keys["OXBOT_OPENAI_API_KEY"],
            "K_BIN": keys["OXBOT_BINANCE_API_KEY"],
            "K_BINS": keys["OXBOT_BINANCE_SECRET"],
        },
        capture_output=True,
        timeout=90,
    )
    assert r.returncode == 0, (
        r.stdout,
        r.stderr,
        (home.root / "keyring-engine.log").read_text()[-3000:],
    )
    assert server.calls and all(
        c == f"Bearer {keys['OXBOT_OPENAI_API_KEY']}" for c in server.calls
    ), "the engine did not use the keyring key"
    assert json.loads((home.root / "status.json").read_text())["bots_running"] == 2
    listing = (home.root / "keys-list.txt").read_text()
    assert "openai" in listing and "keyring" in listing.lower(), listing
    # the keyring's own (encrypted) file is where the keys belong: everything else is scanned
    blobs = {"stdout": r.stdout, "stderr": r.stderr, **files_under(home.root, skip=("keyrings",))}
    assert scan(blobs, list(keys.values())) == []


def home_cmd(home: Any) -> list[str]:
    import sys

    return [sys.executable, "-m", "oxbot.cli.main", "--db", str(home.db)]
