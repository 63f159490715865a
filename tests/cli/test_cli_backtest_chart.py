"""The price chart of `oxbot backtest` (issue 14, "Charts": "the same chart in the backtest
report, terminal and exported"), through cli.main: the terminal report's chart has a ▲ at each
buy's time and a ▼ at each sell's and nowhere else, the --chart SVG has one marker per fill at
its time, a long history is down-sampled and says so, bad --chart names are refused first.

Fill times come from the run's own --trades-out CSV (entry_ts, exit_ts: engine/backtest/export.py).
plotext maps x linearly onto the plot's columns between the frame's borders, with xlim's ends on
the first and the last column inside them: checked by drawing known points with plotext 5.3.2 (a
point at xlim's low end lands next to "┤", one at its high end next to "│"). The report's width
is COLUMNS: shutil.get_terminal_size reads it first (Python docs, shutil).
"""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

SMA = ("--strategy", "sma_cross", "--param", "fast=2", "--param", "slow=4")
SVG = "{http://www.w3.org/2000/svg}"


def _fills(path: Path) -> tuple[list[int], list[int]]:
    with path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [int(r["entry_ts"]) for r in rows], [int(r["exit_ts"]) for r in rows]


def _price_chart(out: str) -> tuple[list[str], str]:
    """The price chart's lines from its top border to its bottom one, and its legend line."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if "BTC/USDT 1h" in line and "▲" in line)
    end = next(i for i in range(start, len(lines)) if "└" in lines[i])
    return lines[start + 1 : end + 1], lines[end + 2]


def _marker_columns(chart: list[str], marker: str) -> set[int]:
    cols = set()
    for line in chart[1:-1]:  # between the frame's top and bottom
        cols |= {i for i, ch in enumerate(line) if ch == marker}
    return cols


def _expected(chart: list[str], times: list[int], t0: int, t1: int) -> set[int]:
    left, right = chart[0].index("┌") + 1, chart[0].index("┐") - 1
    return {left + round((t - t0) / (t1 - t0) * (right - left)) for t in times}


def _near(a: set[int], b: set[int]) -> bool:
    return all(any(abs(x - y) <= 1 for y in b) for x in a)


@pytest.mark.parametrize("columns", ["120", "60", "45"])  # candles, merged candles, a line
def test_the_report_marks_each_fill_at_its_time(
    oxbot, candles_csv, tmp_path, monkeypatch, columns
) -> None:
    monkeypatch.setenv("COLUMNS", columns)  # shutil.get_terminal_size reads it first
    data, trades = candles_csv(n=120), tmp_path / "trades.csv"
    code, out, err = oxbot("backtest", *SMA, "--data", str(data), "--trades-out", str(trades))
    assert code == 0, err
    buys, sells = _fills(trades)
    assert len(buys) >= 5
    chart, legend = _price_chart(out)
    assert "sma_2" in legend and "sma_4" in legend  # the strategy's MAs
    first, last = 1_704_067_200_000, 1_704_067_200_000 + 119 * 3_600_000  # sine_candles(120)
    t0, t1 = min(first, *buys), max(last, *sells)
    got_b, got_s = _marker_columns(chart, "▲"), _marker_columns(chart, "▼")
    want_b, want_s = _expected(chart, buys, t0, t1), _expected(chart, sells, t0, t1)
    assert _near(got_b, want_b) and _near(want_b, got_b), (got_b, want_b)
    assert _near(got_s, want_s) and _near(want_s, got_s), (got_s, want_s)
    # the buys fill near the troughs of the sine, the sells near the crests: lower rows
    rows_b = [i for i, line in enumerate(chart) if "▲" in line]
    rows_s = [i for i, line in enumerate(chart) if "▼" in line]
    assert min(rows_b) > max(rows_s)
    assert ("█ up ░ down" in legend) == (columns != "45")  # 45: too narrow for 20 candles


def test_a_long_history_is_down_sampled_and_says_so(oxbot, candles_csv, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    code, out, err = oxbot("backtest", *SMA, "--data", str(candles_csv(n=3000)))
    assert code == 0, err
    title = next(line for line in out.splitlines() if "entries ▲ exits ▼" in line)
    assert "down-sampled: 3,000 candles shown as" in title
    # at most one candle per two plot columns, merged into whole hours
    shown = int(title.split("shown as ")[1].split(",")[0])
    assert shown <= (100 - 12) // 2
    assert "1 per " in title and title.rstrip().endswith("h)")


def _svg_markers(root: ET.Element, side: str) -> list[ET.Element]:
    return [e for e in root.iter(f"{SVG}path") if e.get("class") == side]


def test_the_exported_svg_has_one_marker_per_fill_at_its_time(oxbot, candles_csv, tmp_path) -> None:
    data, trades, chart = candles_csv(n=200), tmp_path / "t.csv", tmp_path / "chart.svg"
    code, out, err = oxbot(
        "backtest", *SMA, "--data", str(data), "--trades-out", str(trades), "--chart", str(chart)
    )
    assert code == 0, err
    buys, sells = _fills(trades)
    root = ET.parse(chart).getroot()  # well-formed XML, or this raises
    assert root.tag == f"{SVG}svg"
    b, s = _svg_markers(root, "buy"), _svg_markers(root, "sell")
    assert sorted(int(e.get("data-ts", "0")) for e in b) == sorted(buys)
    assert sorted(int(e.get("data-ts", "0")) for e in s) == sorted(sells)
    # x grows with time along one linear scale: the marker's tip x against its ts
    tips = sorted(
        (int(e.get("data-ts", "0")), float(e.get("d", "").split()[1].split(",")[0])) for e in b + s
    )
    (ta, xa), (tz, xz) = tips[0], tips[-1]
    for t, x in tips:
        assert abs(xa + (t - ta) / (tz - ta) * (xz - xa) - x) < 0.2
    names = {e.get("data-name") for e in root.iter(f"{SVG}polyline")}
    assert names == {"sma_2", "sma_4"}
    candles = [e for e in root.iter(f"{SVG}rect") if e.get("class") in ("up", "down")]
    assert len(candles) == 200
    assert any("sma_cross fast=2 slow=4" in (e.text or "") for e in root.iter(f"{SVG}text"))


def test_the_html_export_holds_the_same_svg(oxbot, candles_csv, tmp_path) -> None:
    page = tmp_path / "chart.html"
    code, _out, err = oxbot("backtest", *SMA, "--data", str(candles_csv()), "--chart", str(page))
    assert code == 0, err
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    svg = text[text.index("<svg") : text.index("</svg>") + len("</svg>")]
    root = ET.fromstring(svg)
    assert _svg_markers(root, "buy") and _svg_markers(root, "sell")


def test_bad_chart_names_are_refused_before_any_work(oxbot, candles_csv, tmp_path) -> None:
    data = str(candles_csv())
    for name, words in (
        ("chart.png", ".svg or .html"),
        ("-", ".svg or .html"),
        (str(tmp_path / "nope" / "c.svg"), "does not exist"),
    ):
        code, out, err = oxbot("backtest", *SMA, "--data", data, "--chart", name)
        assert code == 2 and out == "" and words in err, err
        assert "Traceback" not in err
    code, out, err = oxbot(
        "backtest", *SMA, "--data", data, "--sweep", "fast=2:3:1", "--chart", "c.svg"
    )
    assert code == 2 and "--chart draws one backtest" in err


def test_downsampling_merges_runs_of_candles() -> None:
    import numpy as np

    from oxbot.app.backtest_prices import PriceSeries, downsample

    ts = np.arange(10, dtype=np.int64) * 3_600_000
    up = np.arange(10, dtype=np.float64)
    s = PriceSeries("X/USDT", "1h", ts, up, up + 5, up - 5, up + 1, {"sma_2": up * 2}, bars=10)
    d = downsample(s, 4)  # 10 candles in at most 4: runs of 3 (3, 3, 3, 1)
    assert d.group == 3 and d.ts.tolist() == [0, 3 * 3_600_000, 6 * 3_600_000, 9 * 3_600_000]
    assert d.open.tolist() == [0, 3, 6, 9] and d.close.tolist() == [3, 6, 9, 10]
    assert d.high.tolist() == [7, 10, 13, 14] and d.low.tolist() == [-5, -2, 1, 4]
    assert d.mas["sma_2"].tolist() == [0, 6, 12, 18]
    assert "10 candles shown as 4, 1 per 3h" in d.title()
    assert downsample(s, 10) is s
