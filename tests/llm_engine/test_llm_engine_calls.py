"""What an LLM call costs, says and reads when the provider misbehaves (issue 11 section 2,
round 2: the adversary's F4-F8), each through the real path: a PAPER LLM bot on the sim
market, built by the runtime's factory, httpx, the strict fake servers on 127.0.0.1.

Each test failed on the code before the fix (the old outcome is noted per test).

Provider behaviour relied on, beyond what tests/support/fake_llm_server.py documents:
- A provider bills the prompt it read and the tokens it generated before a stream broke off
  or the client gave up (the adversary's premise, F5; OpenAI and Anthropic bill per token
  processed). A request refused with an HTTP error status generated nothing: not charged.
- Anthropic's message_start carries ``usage.input_tokens`` before any text ([AN-stream]).
- Retry-After is delta-seconds or an HTTP date (RFC 9110 section 10.2.3); a date no
  calendar has ("99999999999:28:00") must read as "no usable header".
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fake_llm_server import FakeLLMServer

from oxbot.app.headless import EventLines
from oxbot.engine.messages import CycleFailed, Notice, OrderFilled, ReasoningChunk
from oxbot.engine.models import BotStatus
from oxbot.storage.redact import _clear_registry, register_secret
from oxbot.storage.store import Store

from .conftest import MODEL, Reply, call, call_cost, llm_bot, make_engine, reply

BTC, ETH = "BTC/USDT", "ETH/USDT"
BUY = reply(call(BTC, "buy", 10), call(ETH, "hold"))
HOLDS = reply(call(BTC, "hold"), call(ETH, "hold"))
KEY = "sk-calls-0123456789abcdefghijklmnopqrstuvwxyzABCDEF"  # 50 characters
SECRET = "exch-secret-9f8e7d6c5b4a39281706f5e4d3c2b1a0"  # registered like an exchange key


async def run(
    store: Store,
    tmp_path: Path,
    harness: Any,
    url: str,
    *,
    candles: int = 6,
    provider: str = "openai_compatible",
    **llm: Any,
) -> tuple[Any, Any]:
    """One paper LLM bot (stored running) over ``candles`` candles; (harness, runner)."""
    await store.save_bot(llm_bot("b", url, provider=provider, **llm), BotStatus.RUNNING)
    engine = make_engine(
        store, tmp_path, max_candles=candles, keys={"openai_compatible": KEY, "anthropic": KEY}
    )
    h = harness(engine)
    await h.start()
    await h.finish_market(timeout=90)
    runner = engine.runners["b"]
    await h.stop()
    return h, runner


def streamed(h: Any) -> str:
    return "".join(ev.text for ev in h.of(ReasoningChunk))


def db_text(tmp_path: Path) -> str:
    """Every text cell of the database (a key must be in none of them)."""
    con = sqlite3.connect(tmp_path / "oxbot.db")
    texts = []
    for (table,) in con.execute("select name from sqlite_master where type='table'"):
        for row in con.execute(f"select * from {table}"):  # noqa: S608 - our own tables
            texts.extend(v for v in row if isinstance(v, str))
    con.close()
    return "\n".join(texts)


def an_ev(kind: str, **data: Any) -> str:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n"


def an_start(tokens_in: int = 900) -> str:
    return an_ev(
        "message_start",
        message={
            "id": "msg",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": MODEL,
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": tokens_in, "output_tokens": 1},
        },
    )


def an_text(text: str) -> str:
    return an_ev("content_block_delta", index=0, delta={"type": "text_delta", "text": text})


def an_stop(reason: str) -> str:
    return an_ev(
        "message_delta",
        delta={"stop_reason": reason, "stop_sequence": None},
        usage={"output_tokens": 60},
    )


def oa(obj: dict[str, Any]) -> str:
    return f"data: {json.dumps(obj)}\n\n"


def oa_chunk(content: str | None = None, finish: str | None = None, **choice: Any) -> str:
    delta = {} if content is None else {"content": content}
    return oa(
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, **choice}],
        }
    )


# ------------------------------------------------------------------ F5: failed calls cost


async def test_a_call_cut_by_the_deadline_is_charged_and_counts_toward_the_budget(
    store: Store, tmp_path: Path, fake_llm: Any, harness: Any
) -> None:
    # A slow provider streams ~800 characters a second and is cut by timeout_s. old: each
    # such call was stored at $0 / 0 tokens and the budget never paused the bot (one call
    # per candle, all billed by the provider).
    slow = json.dumps({"analysis": "a" * 4000, "decisions": [call(BTC, "hold")]})
    fake_llm.handler = lambda _s: Reply(slow, chunk=40, pace_s=0.05, delay_s=0)
    h, runner = await run(
        store, tmp_path, harness, fake_llm.url, candles=5, timeout_s=1.5, daily_budget_usd="0.0005"
    )
    rows = await store.recent_decisions("b", 100)
    first = rows[0]
    assert first.source == "fallback" and "within 1.5 s" in first.error
    assert first.tokens_in > 300 and first.tokens_out > 100  # the prompt, the text received
    assert first.cost == call_cost(first.tokens_in, first.tokens_out) > 0
    assert "charged for a failed call: usage estimated" in first.flags
    assert runner.strategy.stats["cost_today"] == first.cost >= 0
    # The budget ($0.0005) was spent by that one failed call: paused, no second request.
    assert len(rows) == 1 and len(fake_llm.requests) == 1
    assert runner.status is BotStatus.PAUSED
    assert any("daily LLM budget" in n.message for n in h.of(Notice))


async def test_reported_input_tokens_are_charged_when_a_stream_breaks(
    store: Store, tmp_path: Path, harness: Any
) -> None:
    # Anthropic reports input_tokens in message_start, before any text; the stream then
    # ends with an error event. old: tokens_in 0, cost 0 ("even message_start dropped").
    srv = FakeLLMServer("anthropic", api_key=KEY).start()
    try:
        srv.handler = lambda _s: Reply(
            raw=[
                an_start(900),
                an_text(BUY[1:41]),
                an_ev("error", error={"type": "invalid_request_error", "message": "stop"}),
            ]
        )
        _h, _runner = await run(
            store, tmp_path, harness, srv.url, candles=2, provider="anthropic", model=MODEL
        )
    finally:
        srv.close()
    rows = await store.recent_decisions("b", 100)
    assert rows and all(r.source == "fallback" and "mid-stream" in r.error for r in rows)
    for r in rows:
        assert r.tokens_in == 900  # as reported
        assert r.tokens_out == 11  # 41 characters received (with the prefilled "{"), ~4 each
        assert r.cost == call_cost(900, 11)
        assert "charged for a failed call" in r.flags and "reported the prompt" in r.flags


async def test_a_request_refused_with_an_http_error_is_not_charged(
    store: Store, tmp_path: Path, fake_llm: Any, harness: Any
) -> None:
    # The other side of the rule: nothing was generated, nothing is charged (retries too).
    fake_llm.handler = lambda _s: Reply(status=503, body='{"error": {"message": "busy"}}')
    _h, runner = await run(store, tmp_path, harness, fake_llm.url, candles=2)
    rows = await store.recent_decisions("b", 100)
    assert rows and all(r.source == "fallback" and "HTTP 503" in r.error for r in rows)
    assert all(r.cost == 0 and r.tokens_in == 0 and r.flags == "" for r in rows)
    assert len(fake_llm.requests) == 3 * len(rows)  # one call, two retries
    assert runner.strategy.stats["cost_today"] == 0


# ------------------------------------------------------------------ F6: key at the cut


def _padded(make: Any, needle: str, at: int) -> str:
    """make(padding) -> a text in which ``needle`` starts at index ``at``."""
    for n in range(600):
        text = make("x" * n)
        if text.find(needle) == at:
            return text
    raise AssertionError("no padding puts the needle there")


def _leaks(text: str, secret: str) -> list[str]:
    return [secret[i : i + 12] for i in range(len(secret) - 11) if secret[i : i + 12] in text]


def _openai_400(secret: str) -> Reply:
    # Quoted by the provider as scrub(body): the secret starts 40 characters before the
    # 300th, where the quote is cut.
    body = _padded(lambda p: json.dumps({"error": {"message": f"{p} echo {secret}"}}), secret, 260)
    return Reply(status=400, body=body)


def _openai_midstream(secret: str) -> Reply:
    message = _padded(lambda p: f"{p} echo {secret}", secret, 260)
    return Reply(raw=[oa({"error": {"message": message, "type": "server_error"}})])


def _anthropic_400(secret: str) -> Reply:
    body = _padded(
        lambda p: json.dumps(
            {
                "type": "error",
                "error": {"type": "invalid_request_error", "message": f"{p} echo {secret}"},
            }
        ),
        secret,
        260,
    )
    return Reply(status=400, body=body)


def _anthropic_midstream(secret: str) -> Reply:
    err = _padded(
        lambda p: json.dumps({"type": "api_error", "message": f"{p} {secret}"}), secret, 260
    )
    return Reply(raw=[an_start(), an_text('"a'), an_ev("error", error=json.loads(err))])


@pytest.mark.parametrize(
    ("make", "kind", "secret"),
    [
        (_openai_400, "openai", KEY),
        (_openai_midstream, "openai", KEY),
        (_anthropic_400, "anthropic", KEY),
        (_anthropic_midstream, "anthropic", KEY),
        (_openai_400, "openai", SECRET),
    ],
    ids=[
        "openai-400",
        "openai-midstream",
        "anthropic-400",
        "anthropic-midstream",
        "registered-secret",
    ],
)
async def test_a_secret_straddling_the_cut_of_an_error_text_never_leaks(
    make: Any, kind: str, secret: str, store: Store, tmp_path: Path, harness: Any
) -> None:
    # A proxy quotes the request's key (or another secret) in its error; the quote is cut at
    # 300 characters. old: cut first, redacted after: 40 of the key's 50 characters were
    # stored (decisions.error, the bots' last failure), streamed and logged headless.
    _clear_registry()
    register_secret(SECRET)  # as the keyring layer does for every key it loads
    srv = FakeLLMServer(kind, api_key=KEY).start()
    try:
        srv.handler = lambda _s: make(secret)
        provider = "anthropic" if kind == "anthropic" else "openai_compatible"
        h, _runner = await run(store, tmp_path, harness, srv.url, candles=2, provider=provider)
    finally:
        srv.close()
        _clear_registry()
    rows = await store.recent_decisions("b", 100)
    assert rows and all(r.source == "fallback" for r in rows)
    lines = EventLines()
    logged = "\n".join(line[1] for ev in h.events if (line := lines.describe(ev)))
    assert "no usable LLM decision" in logged
    for where, text in (
        ("database", db_text(tmp_path)),
        ("stream", streamed(h)),
        ("headless log", logged),
    ):
        assert not _leaks(text, secret), f"{where}: {_leaks(text, secret)}"
    assert all("[redacted]" in r.error for r in rows), rows[0].error  # said, not dropped


# ------------------------------------------------------------------ F8: not a stream


async def test_http_200_with_a_json_error_body_keeps_its_message(
    store: Store, tmp_path: Path, fake_llm: Any, harness: Any
) -> None:
    # old: read as an empty stream: "the reply's stream ended without saying it was
    # finished", the server's message lost, and a repair re-ask spent on it.
    fake_llm.handler = lambda _s: Reply(
        content_type="application/json",
        body='{"error": {"message": "model fake-model is not loaded", "type": "x"}}',
    )
    _h, runner = await run(store, tmp_path, harness, fake_llm.url, candles=2)
    rows = await store.recent_decisions("b", 100)
    assert rows and all(r.source == "fallback" for r in rows)
    assert all(
        "model fake-model is not loaded" in r.error and "HTTP 200" in r.error for r in rows
    ), rows[0].error
    assert len(fake_llm.requests) == len(rows)  # no repair, no retry
    assert all(r.cost == 0 for r in rows)  # an error, nothing generated
    assert runner.strategy.stats["last_failure_kind"] == "bad stream"


async def test_http_200_with_an_html_page_says_what_came(
    store: Store, tmp_path: Path, fake_llm: Any, harness: Any
) -> None:
    # A captive portal or a wrong base_url. old: "stream ended without saying it was
    # finished", nothing of the page kept.
    fake_llm.handler = lambda _s: Reply(
        content_type="text/html", body="<html><h1>Sign in to the hotel wifi</h1></html>"
    )
    await run(store, tmp_path, harness, fake_llm.url, candles=2)
    rows = await store.recent_decisions("b", 100)
    assert rows and all(
        "text/html" in r.error and "hotel wifi" in r.error and "base_url" in r.error for r in rows
    ), rows[0].error


async def test_a_completion_sent_whole_as_json_is_read(
    store: Store, tmp_path: Path, fake_llm: Any, harness: Any
) -> None:
    # A server that ignores stream: true answers one chat.completion object [OA-object].
    # old: read as an empty stream, never a decision.
    whole = {
        "id": "c",
        "object": "chat.completion",
        "created": 1,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": BUY, "refusal": None},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 900, "completion_tokens": 60, "total_tokens": 960},
    }
    fake_llm.handler = lambda _s: Reply(content_type="application/json", body=json.dumps(whole))
    h, _runner = await run(store, tmp_path, harness, fake_llm.url, candles=2)
    rows = await store.recent_decisions("b", 100)
    assert rows[0].source == "llm" and rows[0].order_ids and h.of(OrderFilled)
    assert (rows[0].tokens_in, rows[0].tokens_out, rows[0].flags) == (900, 60, "")


RETRY_AFTER_OVERFLOW = "Wed, 21 Oct 2015 99999999999:28:00 GMT"


async def test_an_unreadable_retry_after_is_retried_with_the_default_backoff(
    store: Store, tmp_path: Path, fake_llm: Any, harness: Any
) -> None:
    # old: parse_retry_after raised OverflowError: no retry, and the decision stored "the
    # provider's reply could not be read (OverflowError ...)".
    answers = iter(
        [
            Reply(
                status=429,
                headers={"Retry-After": RETRY_AFTER_OVERFLOW},
                body='{"error": {"message": "slow down"}}',
            )
        ]
    )
    fake_llm.handler = lambda _s: next(answers, Reply(BUY))
    h, _runner = await run(store, tmp_path, harness, fake_llm.url, candles=1)
    rows = await store.recent_decisions("b", 100)
    assert len(fake_llm.requests) == 2 and rows[0].source == "llm" and h.of(OrderFilled)


async def test_a_rate_limit_with_an_unreadable_retry_after_is_said_as_a_rate_limit(
    store: Store, tmp_path: Path, fake_llm: Any, harness: Any
) -> None:
    fake_llm.handler = lambda _s: Reply(
        status=429,
        headers={"Retry-After": RETRY_AFTER_OVERFLOW},
        body='{"error": {"message": "slow down"}}',
    )
    h, runner = await run(store, tmp_path, harness, fake_llm.url, candles=1)
    rows = await store.recent_decisions("b", 100)
    assert "rate limiting us (HTTP 429)" in rows[0].error and "slow down" in rows[0].error
    assert len(fake_llm.requests) == 3  # one call, two retries
    assert runner.strategy.stats["last_failure_kind"] == "rate limited"
    assert not h.of(CycleFailed)


# ------------------------------------------------------------------ F7: reasoning size


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_reasoning_is_bounded_and_a_reply_past_the_bound_is_not_read(
    kind: str, store: Store, tmp_path: Path, harness: Any
) -> None:
    # 10 MB of reasoning, then a valid buy. old: the reasoning was kept and streamed whole
    # (only the answer counted toward the 60,000-character cap) and the buy traded.
    srv = FakeLLMServer(kind, api_key=KEY).start()
    try:
        srv.handler = lambda _s: Reply(BUY, think="t" * 10_000_000, chunk=50_000)
        provider = "anthropic" if kind == "anthropic" else "openai_compatible"
        h, runner = await run(
            store,
            tmp_path,
            harness,
            srv.url,
            candles=1,
            provider=provider,
            timeout_s=60,
            anthropic_prefill=False,
        )
    finally:
        srv.close()
    rows = await store.recent_decisions("b", 100)
    assert len(rows) == 1 and rows[0].source == "fallback" and not h.of(OrderFilled)
    assert "more than 240,000 characters of answer and reasoning" in rows[0].error
    shown = streamed(h)
    assert max(len(run) for run in re.findall("t+", shown)) == 60_000  # kept and shown
    assert len(shown) < 61_000 and "the rest is not shown" in shown
    assert rows[0].tokens_out >= 60_000  # what was read is charged (~240,000 characters)
    assert runner.strategy.stats["failures"] == 1


# ------------------------------------------------------------------ F4: how a reply ended


@pytest.mark.parametrize("first", ["length", "content_filter"])
async def test_an_openai_cut_off_is_not_cleared_by_a_later_stop(
    first: str, store: Store, tmp_path: Path, fake_llm: Any, harness: Any
) -> None:
    # old: finish = reason or finish: the last reason won, and the cut-off reply traded.
    fake_llm.handler = lambda _s: Reply(
        raw=[oa_chunk(BUY), oa_chunk(finish=first), oa_chunk(finish="stop"), "data: [DONE]\n\n"]
    )
    h, _runner = await run(store, tmp_path, harness, fake_llm.url, candles=1)
    rows = await store.recent_decisions("b", 100)
    assert rows[0].source == "fallback" and not h.of(OrderFilled)
    assert ("cut off" if first == "length" else "content filter") in rows[0].error


@pytest.mark.parametrize("first", ["max_tokens", "refusal"])
async def test_an_anthropic_cut_off_is_not_cleared_by_a_later_end_turn(
    first: str, store: Store, tmp_path: Path, harness: Any
) -> None:
    srv = FakeLLMServer("anthropic", api_key=KEY).start()
    try:
        srv.handler = lambda _s: Reply(
            raw=[
                an_start(),
                an_text(BUY[1:]),
                an_ev("content_block_stop", index=0),
                an_stop(first),
                an_stop("end_turn"),
                an_ev("message_stop"),
            ]
        )
        h, _runner = await run(store, tmp_path, harness, srv.url, candles=1, provider="anthropic")
    finally:
        srv.close()
    rows = await store.recent_decisions("b", 100)
    assert rows[0].source == "fallback" and not h.of(OrderFilled)
    assert ("cut off" if first == "max_tokens" else "refused") in rows[0].error


TWO_CHOICES = {
    # n=2 without "index": old: the halves of two choices were glued into one buy
    "two-in-one-chunk-no-index": [
        oa(
            {
                "choices": [
                    {"delta": {"content": BUY[:40]}},
                    {"delta": {"content": BUY[40:]}, "finish_reason": "stop"},
                ]
            }
        ),
        "data: [DONE]\n\n",
    ],
    # a choice without an index, then index 0: which one is ours is not known
    "index-less-then-index-0": [
        oa({"choices": [{"delta": {"content": BUY[:40]}}]}),
        oa_chunk(BUY[40:], "stop"),
        "data: [DONE]\n\n",
    ],
}


@pytest.mark.parametrize("case", list(TWO_CHOICES))
async def test_pieces_of_more_than_one_choice_are_never_one_answer(
    case: str, store: Store, tmp_path: Path, fake_llm: Any, harness: Any
) -> None:
    fake_llm.handler = lambda _s: Reply(raw=TWO_CHOICES[case])
    h, _runner = await run(store, tmp_path, harness, fake_llm.url, candles=1)
    rows = await store.recent_decisions("b", 100)
    assert rows[0].source == "fallback" and not h.of(OrderFilled)
    assert "one was asked for" in rows[0].error
