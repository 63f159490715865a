"""The higher-timeframe facts of a prompt (engine/llm/facts.py ``htf_facts``) are computed
without pandas-ta's pass over every window, and the prompts are the same, character for
character, and their facts the same floats, bit for bit: on real candles at hundreds of
decision points of three timeframes, with and without timestamps, and at the short windows
of a backtest's first candles (indicators still warming up, "n/a")."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from oxbot.engine.backtest.llmrun import context_at
from oxbot.engine.llm import LLMParams, LLMStrategy
from oxbot.engine.llm.facts import HIGHER_TF, HTF_SPECS, htf_facts, resample, tf_facts
from oxbot.engine.market.indicators import FULL_SET, compute
from oxbot.engine.market.kernels import compute_fast
from oxbot.engine.models import BotConfig

DATA = Path("/work/shared/data/ohlcv")
CASES = [  # file, its timeframe (the higher one: facts.HIGHER_TF)
    ("binance_BTC-USDT_1h.csv", "1h"),
    ("binance_ETH-USDT_5m.csv", "5m"),
    ("binance_ETH-USDT_1m.csv", "1m"),
]
PRESENT = [c for c in CASES if (DATA / c[0]).is_file()]
WINDOW = 300  # market/window.py WINDOW: what an LLM bot's frames hold


def old_htf(window: pd.DataFrame, timeframe: str) -> pd.DataFrame:
    """Today's path before htf_facts: pandas-ta over the resampled window."""
    return compute(resample(window, timeframe, HIGHER_TF[timeframe]), HTF_SPECS)


def candles(name: str, rows: int) -> pd.DataFrame:
    raw = pd.read_csv(DATA / name, nrows=rows)
    frame = raw.rename(columns={"timestamp": "ts"})[
        ["ts", "open", "high", "low", "close", "volume"]
    ]
    return compute_fast(frame.astype({"ts": "int64"}), FULL_SET)


def same_facts(a: object, b: object) -> bool:
    """Equal, and every float the same bits (== would take -0.0 for 0.0)."""
    return repr(a) == repr(b) and a == b


@pytest.mark.realdata
@pytest.mark.skipif(not PRESENT, reason=f"no real OHLCV data: {DATA} is missing")
@pytest.mark.parametrize(("name", "timeframe"), PRESENT, ids=[c[0] for c in PRESENT])
def test_prompts_are_identical_with_the_fast_higher_timeframe(name: str, timeframe: str) -> None:
    frame = candles(name, 1500)
    config = BotConfig(
        name="same", symbols=["BTC/USDT"], timeframe=timeframe, strategy="llm", llm={}
    )
    strategy = LLMStrategy(LLMParams())
    cash = Decimal(10_000)
    # the first windows (a backtest's first candles: too few bars for MACD, the bands, the
    # EMA 50 of the higher timeframe), then full windows further on
    rows = [*range(1, WINDOW, 11), *range(WINDOW, len(frame), 15)]
    checked = 0
    for r in rows:
        ctx = context_at(config, {"BTC/USDT": frame}, WINDOW, 0, {"BTC/USDT": r}, {}, cash, cash)
        window = ctx.frames["BTC/USDT"]
        for w in (window, window.drop(columns=["ts"])):  # by timestamps; by bar count
            ref = tf_facts(old_htf(w, timeframe), HIGHER_TF[timeframe])
            got = htf_facts(w, timeframe, HIGHER_TF[timeframe])
            assert same_facts(got, ref), (name, r, got, ref)
        ctx.extra["htf_frames"] = {"BTC/USDT": old_htf(window, timeframe)}
        before = strategy.build(ctx)
        ctx.extra.pop("htf_frames")
        now = strategy.build(ctx)
        assert now.user == before.user, (name, r)
        assert same_facts(now.facts, before.facts), (name, r)
        checked += 1
    assert checked == len(rows) > 100


def test_a_frame_with_a_missing_price_or_out_of_order_rows_takes_the_old_path() -> None:
    """The runs read off the arrays need rows in time order and no NaN: otherwise pandas'
    groupby decides (it skips NaN in first/last/max/min and sorts the keys)."""
    n = 120
    frame = pd.DataFrame(
        {
            "ts": [1_700_000_000_000 + i * 60_000 for i in range(n)],
            "open": [100.0 + (i % 7) for i in range(n)],
            "high": [103.0 + (i % 5) for i in range(n)],
            "low": [97.0 - (i % 3) for i in range(n)],
            "close": [100.5 + (i % 11) * 0.3 for i in range(n)],
            "volume": [10.0 + (i % 13) for i in range(n)],
        }
    )
    holed = frame.copy()
    holed.loc[40, "close"] = float("nan")
    shuffled = frame.iloc[list(range(60, n)) + list(range(60))].reset_index(drop=True)
    for f in (frame, holed, shuffled):
        ref = tf_facts(old_htf(f, "1m"), "15m")
        assert same_facts(htf_facts(f, "1m", "15m"), ref)
