"""The fake model servers refuse what the real APIs refuse (sources in
tests/support/fake_llm_server.py), so a test that passes against them says something about the
real providers; and what oxbot sends passes."""

from __future__ import annotations

import httpx
import pytest
from fake_llm_server import FakeLLMServer

from oxbot.engine.llm.factory import make_provider
from oxbot.engine.llm.provider import ChatRequest

MSG = [{"role": "user", "content": "Answer with one JSON object."}]


@pytest.mark.parametrize(
    ("body", "headers", "status", "text"),
    [
        ({"model": "m", "messages": MSG}, {}, 401, "Incorrect API key"),
        ({"messages": MSG}, {"Authorization": "Bearer sk-fake-key-1"}, 400, "model parameter"),
        (
            {"model": "m", "messages": MSG, "stream_options": {"include_usage": True}},
            {"Authorization": "Bearer sk-fake-key-1"},
            400,
            "only allowed when 'stream'",
        ),
        (
            {
                "model": "m",
                "messages": [{"role": "user", "content": "hi"}],
                "stream": True,
                "response_format": {"type": "json_object"},
            },
            {"Authorization": "Bearer sk-fake-key-1"},
            400,
            "must contain the word 'json'",
        ),
        (
            {
                "model": "m",
                "messages": MSG,
                "response_format": {"type": "json_schema", "json_schema": {"name": "a b"}},
            },
            {"Authorization": "Bearer sk-fake-key-1"},
            400,
            "json_schema",
        ),
        (
            {"model": "m", "messages": MSG, "temperature": 3},
            {"Authorization": "Bearer sk-fake-key-1"},
            400,
            "temperature",
        ),
        (
            {"model": "m", "messages": MSG, "leverage": 5},
            {"Authorization": "Bearer sk-fake-key-1"},
            400,
            "Unrecognized request argument",
        ),
    ],
)
def test_the_fake_openai_refuses_what_openai_refuses(body, headers, status, text) -> None:
    srv = FakeLLMServer("openai", api_key="sk-fake-key-1").start()
    try:
        r = httpx.post(f"{srv.url}/chat/completions", json=body, headers=headers)
    finally:
        srv.close()
    assert r.status_code == status and text in r.json()["error"]["message"]
    assert not srv.requests  # never answered as a completion


BASE = {"x-api-key": "ak", "anthropic-version": "2023-06-01"}


@pytest.mark.parametrize(
    ("body", "headers", "status", "text"),
    [
        (
            {"model": "m", "max_tokens": 5, "messages": MSG},
            {"anthropic-version": "2023-06-01"},
            401,
            "x-api-key",
        ),
        (
            {"model": "m", "max_tokens": 5, "messages": MSG},
            {"x-api-key": "ak"},
            400,
            "anthropic-version",
        ),
        ({"model": "m", "messages": MSG}, BASE, 400, "max_tokens"),
        (
            {"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}, *MSG]},
            BASE,
            400,
            "'user' or 'assistant'",
        ),
        (
            {
                "model": "m",
                "max_tokens": 5,
                "messages": [*MSG, {"role": "assistant", "content": "{ "}],
            },
            BASE,
            400,
            "trailing whitespace",
        ),
        (
            {"model": "m", "max_tokens": 5, "messages": MSG, "response_format": {}},
            BASE,
            400,
            "Extra inputs are not permitted",
        ),
        (
            {"model": "m", "max_tokens": 5, "messages": MSG, "temperature": 1.5},
            BASE,
            400,
            "temperature",
        ),
    ],
)
def test_the_fake_anthropic_refuses_what_anthropic_refuses(body, headers, status, text) -> None:
    srv = FakeLLMServer("anthropic", api_key="ak").start()
    try:
        r = httpx.post(f"{srv.url}/v1/messages", json=body, headers=headers)
    finally:
        srv.close()
    assert r.status_code == status, r.text
    assert r.json()["type"] == "error" and text in r.json()["error"]["message"]
    assert not srv.requests


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_what_oxbot_sends_passes_the_strict_checks(kind: str) -> None:
    srv = FakeLLMServer(kind, api_key="sk-fake-key-1").start()
    srv.then('{"analysis": "a", "decisions": []}')
    provider = make_provider(
        kind, base_url=srv.url, model="m", api_key="sk-fake-key-1", timeout_s=5
    )
    req = ChatRequest("system", MSG, json_schema={"type": "object"})
    try:
        done = await provider.complete(req, lambda _t: None)
    finally:
        await provider.aclose()
        srv.close()
    assert not srv.refused and len(srv.requests) == 1 and done.complete
