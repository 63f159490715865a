"""Helpers for the arena tests: an in-process `oxbot arena` runner (the real parser and error
mapping), the fake LLM servers of tests/support/fake_llm_server.py answering from the prompt,
arena files written to tmp, and the shared 1h BTC file (../shared/data/ohlcv, never copied into
the repository)."""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_llm_server import FakeLLMServer, Reply, Seen

REPO = Path(__file__).resolve().parents[2]
SHARED_1H = REPO.parent / "shared" / "data" / "ohlcv" / "binance_BTC-USDT_1h.csv"
SYM = "BTC/USDT"


def reply_for(seen: Seen) -> Reply:
    """buy when flat, close when held, else hold, picked by a hash of the prompt: the same
    prompt always gets the same reply, so a run is deterministic given its prompts. Usage: one
    token per 4 characters of what was received and sent (OpenAI's rule of thumb,
    https://help.openai.com/en/articles/4936856)."""
    user = seen.user_text
    flat = "no open positions" in user
    pick = int(hashlib.sha256(user.encode()).hexdigest(), 16) % 4
    action = "hold"
    if flat and pick == 0:
        action = "buy"
    elif not flat and pick == 1:
        action = "close"
    text = json.dumps(
        {
            "analysis": "Trend and momentum were weighed against the recent range; the "
            "call follows the strongest of them.",
            "decisions": [
                {
                    "symbol": SYM,
                    "action": action,
                    "size_pct": 20 if action == "buy" else None,
                    "stop_loss": None,
                    "take_profit": None,
                    "confidence": 0.6,
                    "reasoning": "Momentum and the moving averages agree this time.",
                }
            ],
        }
    )
    received = json.dumps(seen.body.get("messages", [])) + str(seen.body.get("system", ""))
    return Reply(text, usage=(len(received) // 4, len(text) // 4))


@pytest.fixture
def openai_server() -> Iterator[FakeLLMServer]:
    srv = FakeLLMServer("openai").start()
    srv.handler = reply_for
    yield srv
    srv.close()


@pytest.fixture
def anthropic_server() -> Iterator[FakeLLMServer]:
    srv = FakeLLMServer("anthropic").start()
    srv.handler = reply_for
    yield srv
    srv.close()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """OXBOT_HOME (the reply cache lives under it) and OXBOT_DB in tmp."""
    monkeypatch.setenv("OXBOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OXBOT_DB", str(tmp_path / "bots.db"))
    return tmp_path


CliRunner = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> CliRunner:
    """`oxbot arena ...` in process; returns (exit code, stdout, stderr)."""
    from oxbot.cli import arena as cli_arena
    from oxbot.cli.errors import run_handler
    from oxbot.cli.main import _Parser

    def run(*argv: str) -> tuple[int, str, str]:
        parser = _Parser(prog="oxbot")
        sub = parser.add_subparsers(dest="command", parser_class=_Parser)
        cli_arena.register(sub)
        capsys.readouterr()
        try:
            args: argparse.Namespace = parser.parse_args(["arena", *argv])
            code = run_handler(args.handler, args)
        except SystemExit as e:
            code = int(e.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def arena_file() -> Any:
    return write


@pytest.fixture
def shared_1h() -> Path:
    """The shared 1h BTC/USDT file (read in place; skipped where ../shared is absent)."""
    if not SHARED_1H.is_file():
        pytest.skip(f"no shared data at {SHARED_1H}")
    return SHARED_1H
