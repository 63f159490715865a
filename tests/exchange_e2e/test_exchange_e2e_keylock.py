"""Two engines must not trade one exchange key at once, whatever OXBOT_HOME and database each was
started with: the second one's LIVE bot stays stopped and says which engine holds the key.
Real processes (`oxbot run --headless`), configured as a user does."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from waiting import wait_for

OXBOT = [sys.executable, "-m", "oxbot.cli.main"]


def _env(camp: Any, fake: Any, home: Path) -> dict[str, str]:
    camp.write_settings(home, fake)
    return {**os.environ, "OXBOT_HOME": str(home), **camp.key_env(fake)}


def _add(db: Path, name: str, env: dict[str, str]) -> None:
    got = subprocess.run(
        [
            *OXBOT,
            "--db",
            str(db),
            "bots",
            "add",
            name,
            "--exchange",
            "binance",
            "--strategy",
            "sma_cross",
            "--param",
            "fast=2",
            "--param",
            "slow=3",
            "--live",
            "--yes-i-mean-live",
            "--start",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert got.returncode == 0, got.stderr


@pytest.mark.slow
async def test_a_second_engine_with_another_home_cannot_take_the_key(
    camp: Any, tmp_path: Path
) -> None:
    fake = camp.clocked("binance", speed=600)
    await fake.start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        envs, logs = [], []
        for i in (1, 2):
            env = _env(camp, fake, tmp_path / f"home{i}")
            db = tmp_path / f"home{i}" / "oxbot.db"
            await asyncio.to_thread(_add, db, f"keybot{i}", env)
            log = tmp_path / f"engine{i}.log"
            with log.open("wb") as out:
                procs.append(
                    subprocess.Popen(
                        [*OXBOT, "--db", str(db), "run", "--headless"],
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )
            envs.append(env)
            logs.append(log)
            if i == 1:  # the first engine holds the key before the second starts

                def signed(log: Path = log) -> bool:
                    assert procs[0].poll() is None, log.read_text()[-2000:]
                    return bool(fake.signed_requests())

                await wait_for(
                    signed,
                    60,
                    "the first engine's signed requests",
                    detail=lambda log=log: log.read_text()[-2000:],
                )
        await wait_for(
            lambda: "already trades with this binance key" in logs[1].read_text(),
            60,
            "the second engine's refusal in its log",
            detail=lambda: logs[1].read_text()[-3000:],
        )
        text = logs[1].read_text()
        assert f"pid {procs[0].pid}" in text and "keybot2" in text
        signed = {
            e["params"].get("newClientOrderId", "")[:8] for e in fake.log if e["method"] == "POST"
        }
        from oxbot.engine.exchange.broker import bot_prefix

        assert bot_prefix("keybot2") not in signed  # it never placed an order
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        await fake.stop()
