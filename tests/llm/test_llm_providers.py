"""Providers against real local HTTP servers: streaming, usage, JSON-mode fallback, retries,
deadlines and error texts."""

from __future__ import annotations

import json
import time

import pytest

from oxbot.engine.errors import LLMError
from oxbot.engine.llm.errors import LLMAuthError, LLMBadRequest, LLMTimeout, LLMUnavailable
from oxbot.engine.llm.factory import make_provider
from oxbot.engine.llm.openai_compat import remembered_json_mode
from oxbot.engine.llm.provider import ChatRequest, estimate_tokens, request_text

GOOD = json.dumps(
    {
        "analysis": "calm",
        "decisions": [
            {
                "symbol": "BTC/USDT",
                "action": "hold",
                "size_pct": None,
                "stop_loss": None,
                "take_profit": None,
                "confidence": 0.5,
                "reasoning": "nothing to do",
            }
        ],
    }
)
SCHEMA = {"type": "object"}


# Sized like a real prompt: the fake servers report 321 prompt tokens, which must be a
# believable count for the request (provider.checked_usage).
SYSTEM = "system text. " * 60
USER = "user text with the market. " * 50 + "Answer with ONE JSON object."


def req() -> ChatRequest:
    return ChatRequest(SYSTEM, [{"role": "user", "content": USER}], json_schema=SCHEMA)


def openai(srv, key: str | None = "sk-test-123", timeout_s: float = 10, **kw):
    return make_provider(
        "openai",
        base_url=srv.url,
        model=kw.pop("model", "gpt-4o-mini"),
        api_key=key,
        timeout_s=timeout_s,
        backoff_base_s=0.01,
        **kw,
    )


async def test_openai_streams_chunks_and_reads_usage(openai_server):
    openai_server.then(GOOD)
    p = openai(openai_server)
    chunks: list[str] = []
    try:
        done = await p.complete(req(), chunks.append)
    finally:
        await p.aclose()
    assert done.text == GOOD
    assert len(chunks) > 5 and "".join(chunks) == GOOD  # arrived piece by piece
    assert (done.tokens_in, done.tokens_out, done.usage_estimated) == (321, 54, False)
    seen = openai_server.requests[0]
    assert seen.path == "/v1/chat/completions"
    assert seen.headers["authorization"] == "Bearer sk-test-123"
    assert seen.body["stream"] is True and seen.body["model"] == "gpt-4o-mini"
    assert seen.body["messages"][0] == {"role": "system", "content": SYSTEM}
    assert seen.body["response_format"]["type"] == "json_schema"


async def test_openai_estimates_usage_when_stream_has_none(openai_server, reply_type):
    openai_server.then(reply_type(GOOD, usage=None))
    p = openai(openai_server)
    try:
        done = await p.complete(req(), lambda _t: None)
    finally:
        await p.aclose()
    assert done.usage_estimated
    assert done.tokens_out == estimate_tokens(GOOD)
    assert done.tokens_in == estimate_tokens(request_text(req()))
    assert done.usage_note == "usage estimated: the server sent none"


async def test_json_mode_rejected_with_400_falls_back_and_is_remembered(openai_server, reply_type):
    def handler(seen):
        if "response_format" in seen.body:
            return reply_type(
                status=400,
                body=json.dumps(
                    {"error": {"message": "response_format is not supported by this model"}}
                ),
            )
        return reply_type(GOOD)

    openai_server.handler = handler
    p = openai(openai_server, model="json-hater")
    try:
        first = await p.complete(req(), lambda _t: None)
        assert first.text == GOOD and first.json_mode == "prompt"
        n = len(openai_server.requests)
        assert n == 3  # schema rejected, json_object rejected, prompt-only accepted
        second = await p.complete(req(), lambda _t: None)
    finally:
        await p.aclose()
    assert second.text == GOOD
    assert len(openai_server.requests) == n + 1
    assert "response_format" not in openai_server.requests[-1].body
    assert remembered_json_mode(openai_server.url, "json-hater") == "prompt"


async def test_a_prose_reply_does_not_switch_structured_output_off(openai_server):
    # The server accepts response_format but answers prose around the JSON once: that reply
    # is unusable, but the next request still asks for structured output (it used to be
    # switched off for the whole process after one such reply).
    openai_server.then("Sure! Here is my decision:\n```json\n" + GOOD + "\n```", GOOD)
    p = openai(openai_server, model="ignorer")
    try:
        await p.complete(req(), lambda _t: None)
        await p.complete(req(), lambda _t: None)
    finally:
        await p.aclose()
    assert all("response_format" in r.body for r in openai_server.requests)
    assert remembered_json_mode(openai_server.url, "ignorer") == "schema"


async def test_a_400_not_naming_response_format_falls_back_for_that_request_only(
    openai_server, reply_type
):
    def handler(seen):
        if (seen.body.get("response_format") or {}).get("type") == "json_schema":
            return reply_type(
                status=400,
                body=json.dumps(
                    {
                        "error": {
                            "message": "guided decoding with json_schema failed to compile",
                            "type": "invalid_request_error",
                            "param": None,
                        }
                    }
                ),
            )
        return reply_type(GOOD)

    openai_server.handler = handler
    p = openai(openai_server, model="flaky-schema")
    try:
        first = await p.complete(req(), lambda _t: None)
        second = await p.complete(req(), lambda _t: None)
    finally:
        await p.aclose()
    assert first.json_mode == second.json_mode == "json_object"
    kinds = [(r.body.get("response_format") or {}).get("type") for r in openai_server.requests]
    assert kinds == ["json_schema", "json_object", "json_schema", "json_object"]
    assert remembered_json_mode(openai_server.url, "flaky-schema") == "schema"


async def test_429_retry_after_is_honoured(openai_server, reply_type):
    openai_server.then(
        reply_type(
            status=429, headers={"Retry-After": "0.6"}, body='{"error": {"message": "slow down"}}'
        ),
        GOOD,
    )
    p = openai(openai_server)
    try:
        done = await p.complete(req(), lambda _t: None)
    finally:
        await p.aclose()
    a, b = openai_server.requests
    assert done.text == GOOD and done.attempts == 2
    assert b.at - a.at >= 0.6


async def test_500_then_success(openai_server, reply_type):
    openai_server.then(reply_type(status=500, body="boom"), GOOD)
    p = openai(openai_server)
    try:
        done = await p.complete(req(), lambda _t: None)
    finally:
        await p.aclose()
    assert done.text == GOOD and len(openai_server.requests) == 2


async def test_5xx_gives_up_after_two_retries(openai_server, reply_type):
    openai_server.then(reply_type(status=503, body="overloaded"))
    p = openai(openai_server)
    with pytest.raises(LLMUnavailable, match="HTTP 503"):
        try:
            await p.complete(req(), lambda _t: None)
        finally:
            await p.aclose()
    assert len(openai_server.requests) == 3


async def test_400_is_not_retried(openai_server, reply_type):
    openai_server.then(reply_type(status=400, body='{"error": {"message": "model is unknown"}}'))
    p = openai(openai_server)
    with pytest.raises(LLMBadRequest, match="model is unknown"):
        try:
            await p.complete(req(), lambda _t: None)
        finally:
            await p.aclose()
    assert len(openai_server.requests) == 1


async def test_401_names_the_fix_and_never_the_key(openai_server, reply_type):
    openai_server.then(reply_type(status=401, body='{"error": "bad key sk-test-123"}'))
    p = openai(openai_server)
    with pytest.raises(LLMAuthError) as info:
        try:
            await p.complete(req(), lambda _t: None)
        finally:
            await p.aclose()
    text = str(info.value)
    assert "the API key for openai was refused" in text
    assert "oxbot keys set openai" in text and "sk-test-123" not in text
    assert len(openai_server.requests) == 1


async def test_missing_key_fails_before_any_request(openai_server):
    p = openai(openai_server, key=None)
    with pytest.raises(LLMAuthError, match="oxbot keys set openai"):
        try:
            await p.complete(req(), lambda _t: None)
        finally:
            await p.aclose()
    assert openai_server.requests == []


async def test_ollama_needs_no_key(openai_server):
    openai_server.then(GOOD)
    p = make_provider(
        "ollama", base_url=openai_server.url, model="llama3.1", api_key=None, timeout_s=5
    )
    try:
        done = await p.complete(req(), lambda _t: None)
    finally:
        await p.aclose()
    assert done.text == GOOD
    assert "authorization" not in openai_server.requests[0].headers


async def test_stalled_stream_ends_with_llmerror_within_deadline(openai_server, reply_type):
    openai_server.then(reply_type(GOOD, stall_s=20))
    p = openai(openai_server, timeout_s=1.0)
    t0 = time.monotonic()
    with pytest.raises(LLMTimeout, match="within 1 s"):
        try:
            await p.complete(req(), lambda _t: None)
        finally:
            await p.aclose()
    assert time.monotonic() - t0 < 2.5
    assert len(openai_server.requests) == 1  # a deadline is not retried


async def test_unreachable_server_is_a_clear_error():
    p = make_provider(
        "openai",
        base_url="http://127.0.0.1:9/v1",
        model="m",
        api_key="k",
        timeout_s=3,
        backoff_base_s=0.01,
    )
    with pytest.raises(LLMError, match="could not reach openai at http://127.0.0.1:9/v1"):
        try:
            await p.complete(req(), lambda _t: None)
        finally:
            await p.aclose()


async def test_anthropic_streams_with_prefill_and_usage(anthropic_server):
    anthropic_server.then(GOOD[1:])  # the model continues after the prefilled "{"
    p = make_provider(
        "anthropic",
        base_url=anthropic_server.url,
        model="claude-haiku-4-5",
        api_key="ak-1",
        timeout_s=5,
    )
    chunks: list[str] = []
    try:
        done = await p.complete(req(), chunks.append)
    finally:
        await p.aclose()
    assert done.text == GOOD and "".join(chunks) == GOOD and len(chunks) > 5
    assert (done.tokens_in, done.tokens_out, done.usage_estimated) == (321, 54, False)
    seen = anthropic_server.requests[0]
    assert seen.path == "/v1/messages"
    assert seen.headers["x-api-key"] == "ak-1" and seen.headers["anthropic-version"]
    assert seen.body["system"] == SYSTEM
    assert seen.body["messages"][-1] == {"role": "assistant", "content": "{"}
    assert "response_format" not in seen.body


async def test_anthropic_529_retried_then_ok(anthropic_server, reply_type):
    anthropic_server.then(reply_type(status=529, body='{"type":"error"}'), GOOD[1:])
    p = make_provider(
        "anthropic",
        base_url=anthropic_server.url + "/v1",
        model="claude-x",
        api_key="ak",
        timeout_s=5,
        backoff_base_s=0.01,
    )
    try:
        done = await p.complete(req(), lambda _t: None)
    finally:
        await p.aclose()
    assert done.text == GOOD and len(anthropic_server.requests) == 2
    assert anthropic_server.requests[1].path == "/v1/messages"  # "/v1" in base_url tolerated


async def test_anthropic_401(anthropic_server, reply_type):
    anthropic_server.then(reply_type(status=401, body="{}"))
    p = make_provider(
        "anthropic", base_url=anthropic_server.url, model="claude-x", api_key="ak", timeout_s=5
    )
    with pytest.raises(LLMAuthError, match="oxbot keys set anthropic"):
        try:
            await p.complete(req(), lambda _t: None)
        finally:
            await p.aclose()


def test_the_provider_parameter_names_exactly_the_catalog() -> None:
    """One table: what a bot's ``provider`` accepts, what the factory builds and what the key
    store offers are the catalog's names."""
    from typing import get_args

    from oxbot.engine.llm.catalog import PROVIDERS, ProviderName
    from oxbot.storage.secrets import provider_spec

    assert set(get_args(ProviderName)) == set(PROVIDERS)
    for name, info in PROVIDERS.items():
        fields = tuple(f.name for f in provider_spec(name).fields)
        assert fields == (("api_key",) if info.takes_key else ()), name
        assert not info.needs_key or info.takes_key, name
