"""`oxbot status` on a PostgreSQL database whose engines run elsewhere (cli/remote.py): what the
user reads is the bots, the engines table (each engine's host, heartbeat, state, the bots whose
lease it holds; one gone silent marked so) and, on stderr, that no engine answers on this host
and which ones run. The engines are registered in the real database by the real store
(storage/leases.py), as engines on other hosts would; none listens here."""

from __future__ import annotations

import asyncio

from postgres import raw_rows

from oxbot.engine.models import BotConfig, BotStatus
from oxbot.storage.paths import DbUrl
from oxbot.storage.store import Store


async def two_engines_elsewhere(url: str) -> None:
    far, gone = await Store.open(DbUrl(url)), await Store.open(DbUrl(url))
    try:
        await far.register_engine("far", 30)
        await gone.register_engine("gone", 30)
        await far.save_bot(BotConfig(name="b1", strategy="sma_cross"), BotStatus.RUNNING)
        assert (await far.claim_bot("b1", 30)).ok
    finally:
        await far.close()
        await gone.close()
    # "gone" stopped renewing a minute ago (killed, on a host that cannot tell)
    await raw_rows(
        url,
        "UPDATE engines SET heartbeat_ms = heartbeat_ms - 60000, host = 'host-2' "
        "WHERE name = 'gone'",
    )
    await raw_rows(url, "UPDATE engines SET host = 'host-1' WHERE name = 'far'")


def test_status_lists_the_engines_elsewhere_and_what_each_holds(pg_url: str, oxbot) -> None:
    asyncio.run(two_engines_elsewhere(pg_url))
    code, out, err = oxbot("--db", pg_url, "status")
    assert code == 1 and "Traceback" not in err
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    assert rows["ENGINE"] == ["ENGINE", "HOST", "HEARTBEAT", "STATE", "BOTS"], out
    assert rows["far"][1] == "host-1" and rows["far"][-2:] == ["alive", "b1"], out
    assert rows["gone"][1] == "host-2" and rows["gone"][-2:] == ["silent", "-"], out
    assert float(rows["gone"][2]) >= 60 and rows["gone"][3:5] == ["s", "ago"], out
    assert rows["b1"][1:4] == ["running", "on", "far"], out  # not "stopped (no engine)"
    assert "no engine of this database answers on this host" in err
    assert err.rstrip().endswith("its running engines: far"), err
