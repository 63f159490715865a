"""An LLM bot's backtest against the live engine: the same CSV through the live engine at max
speed (built as tests/backtest/test_backtest_bot_replay.py builds it: Store, the bot stored
RUNNING, Engine + MarketHub(SimConfig(speed=None, csv=..., max_candles=N)), the first
``bars_needed`` rows as the stream's history) and through `run_bot` give the same prompts
(each decision's stored ``prompt_hash``, engine/llm/prompt.py) at the same closes and the same
fills. The backtest feeds the live hub's indicator updaters (llmrun.py ``live_indicators``): with
the whole-array kernels a value on a rounding edge once printed one digit differently (sma20
73.275 live, 73.276). The model is the offline provider (engine/llm/offline.py: rules over the
prompt's facts), so the test needs no server and any difference in what the prompt holds shows.
"""

from __future__ import annotations

import asyncio
import hashlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from oxbot.engine.backtest.botrun import run_bot
from oxbot.engine.backtest.llmrun import LlmReplay
from oxbot.engine.engine import Engine
from oxbot.engine.llm.provider import ChatRequest, ChunkSink, Completion, Provider
from oxbot.engine.llm.strategy import LLMParams, LLMStrategy
from oxbot.engine.market.csvdata import load_csv
from oxbot.engine.market.hub import MarketHub
from oxbot.engine.market.sim import SimConfig
from oxbot.engine.market.window import MAX_WINDOW, WINDOW, bars_needed
from oxbot.engine.models import BotConfig, BotStatus, RiskLimits
from oxbot.storage.store import Store

N = 400
SYMS = ("BTC/USDT", "ETH/USDT")


def config(cadence: str) -> BotConfig:
    return BotConfig(
        name="thinker",
        symbols=SYMS,
        timeframe="1h",
        strategy="llm",
        params={"provider": "offline", "memory": 5, "cadence": cadence},
        cadence_s=3 * 3600 if cadence == "interval" else 0,
        risk=RiskLimits(
            max_position_pct=Decimal(30),
            max_exposure_pct=Decimal(50),
            stop_loss_pct=Decimal(2),
            take_profit_pct=Decimal(3),
        ),
        slippage_bps=Decimal(5),
    )


async def live(tmp: Path, cfg: BotConfig, csv: dict[str, str]) -> tuple[list[Any], list[Any]]:
    store = await Store.open(tmp / "live.db")
    hub = MarketHub(SimConfig(speed=None, max_candles=N, csv=csv))
    await store.save_bot(cfg, BotStatus.RUNNING)
    engine = Engine(store, hub, snapshot_every_s=None)
    run = asyncio.create_task(engine.run())
    await asyncio.wait_for(engine.ready.wait(), 30)
    async with asyncio.timeout(600):
        while not hub._streams or not all(s.ended for s in hub._streams.values()):
            await asyncio.sleep(0.01)
    runner = engine.runners[cfg.name]
    assert runner.errors == 0, runner.last_error
    engine.request_stop()
    await run
    fills = await store.load_fills(cfg.name)
    decisions = await store.recent_decisions(cfg.name, 100_000)
    await store.close()
    return fills, decisions


@pytest.mark.parametrize("cadence", ["interval", "trigger"])
async def test_llm_backtest_sends_the_live_prompts_and_fills_the_same(
    tmp_path: Path, bt: Any, cadence: str
) -> None:
    """Every 3 hours, and on the triggers (engine/llm/triggers.py) at every close."""
    csv = {}
    for seed, sym in enumerate(SYMS, start=3):
        frame = bt.generated_candles(N + 400, seed=seed)
        csv[sym] = str(bt.write_csv(tmp_path / f"{sym.replace('/', '-')}.csv", frame))
    cfg = config(cadence)
    live_fills, records = await live(tmp_path, cfg, csv)

    sent: list[str] = []  # each request's prompt hash, as engine/llm/prompt.py computes it

    class Recorder(Provider):
        def __init__(self, inner: Provider) -> None:
            self.inner, self.name, self.model = inner, inner.name, inner.model

        async def complete(self, req: ChatRequest, on_chunk: ChunkSink) -> Completion:
            text = f"{req.system}\n\n{req.messages[0]['content']}"
            sent.append(hashlib.sha256(text.encode()).hexdigest()[:16])
            return await self.inner.complete(req, on_chunk)

    strategy = LLMStrategy(LLMParams(**cfg.params))
    strategy.provider_wrap = Recorder
    frames = {s: load_csv(p) for s, p in csv.items()}
    history = min(MAX_WINDOW, max(WINDOW, bars_needed(strategy)))
    first = frames[SYMS[0]]
    since, until = int(first["ts"].iloc[history]), int(first["ts"].iloc[history + N])
    sim = await asyncio.to_thread(
        run_bot, cfg, strategy, frames, since_ms=since, until_ms=until, llm=LlmReplay()
    )
    live_prompts = sorted((r.ts, r.prompt_hash) for r in records if r.source == "offline")
    assert len(live_prompts) > 100
    assert sent == [h for _, h in live_prompts]
    assert sim.llm_points == len(live_prompts)
    rows = [(f.symbol, f.side.value, f.ts, f.qty, f.price, f.fee) for f in sim.fills]
    assert rows == [(f.symbol, f.side.value, f.ts, f.qty, f.price, f.fee) for f in live_fills]
    assert len(rows) > 10
