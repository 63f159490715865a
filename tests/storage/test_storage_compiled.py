"""The cycle's statements run as compiled text on the driver's cursor (storage/compiled.py): the
rows they write have every column the converters give, and the errors are the ones the Core
statements raised (a broken rule is still named, a float still refused)."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from oxbot.engine.errors import StorageError
from oxbot.storage import convert
from oxbot.storage.store import Store
from oxbot.storage.writes import _statement

D = Decimal


def test_each_statement_binds_exactly_the_keys_its_converter_gives(make) -> None:
    rows = {
        "order": convert.order_to_row(make.order("o1", stop_loss=D("1.5")), 7),
        "fill": convert.fill_to_row(make.fill("f1", "o1"), 7),
        "position": convert.position_to_row(make.position(), 7, "alpha"),
        "decision": convert.decision_to_row(make.decision(), 7),
    }
    keys = {
        "order": convert.ORDER_KEYS,
        "fill": convert.FILL_KEYS,
        "position": convert.POSITION_KEYS,
        "decision": convert.DECISION_KEYS,
    }
    for name, row in rows.items():
        assert tuple(row) == keys[name], name  # a new column must be added to the keys too
        sql = _statement(name).sql
        for key in row:
            assert f":{key}" in sql, (name, key)
        bound = _statement(name).bind(row)
        # every amount leaves as its exact text (the column type's rule)
        assert all(not isinstance(v, Decimal) for v in bound.values()), (name, bound)


async def test_a_fill_without_its_order_is_named_and_nothing_is_written(store: Store, make) -> None:
    with pytest.raises(StorageError, match="a fill needs its order"):
        await store.record_cycle("alpha", fills=[make.fill("f9", "no-such-order")])
    assert await store.fill_count("alpha") == 0


async def test_a_nan_amount_is_refused_and_nothing_is_written(
    store: Store, make, db_path: Path
) -> None:
    order = make.order("o1")
    with pytest.raises(ValueError, match="non-finite"):
        await store.record_cycle(
            "alpha", orders=[order], fills=[make.fill("f1", "o1", price=D("NaN"))]
        )
    assert await store.fill_count("alpha") == 0
    with sqlite3.connect(db_path) as db:  # the order of that cycle was not written either
        assert db.execute("SELECT count(*) FROM orders").fetchone() == (0,)
