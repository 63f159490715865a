"""A sweep's export, one format for the command line (`--out FILE`) and the cockpit (its export
key): CSV, one line per row (rank, fold, the parameters, every kept metric in-sample and
held-out), or JSON, `SweepResult.to_json()`."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from oxbot.engine.backtest.sweep import SUMMARY_KEYS, SweepResult


def csv_rows(result: SweepResult) -> tuple[list[str], list[list[Any]]]:
    """The CSV export's header and rows: rank, fold, the parameters, then every kept metric
    in-sample (``in_sample_*``) and held-out (``held_out_*``)."""
    head = ["rank", "fold", *result.param_names]
    head += [f"in_sample_{k}" for k in SUMMARY_KEYS] + [f"held_out_{k}" for k in SUMMARY_KEYS]
    out = []
    for i, row in enumerate(result.rows, 1):
        out.append(
            [i, "" if row.fold is None else row.fold + 1]
            + [row.params.get(n) for n in result.param_names]
            + [_csv(row.in_sample.get(k)) for k in SUMMARY_KEYS]
            + [_csv((row.held_out or {}).get(k)) for k in SUMMARY_KEYS]
        )
    return head, out


def _csv(v: Any) -> Any:
    return "" if v is None else v


def write_out(result: SweepResult, path: str) -> None:
    """``path`` ending in .json: the JSON; otherwise the CSV."""
    target = Path(path).expanduser()
    if target.suffix.lower() == ".json":
        target.write_text(json.dumps(result.to_json(), indent=1) + "\n", encoding="utf-8")
        return
    head, rows = csv_rows(result)
    with target.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(head)
        w.writerows(rows)
