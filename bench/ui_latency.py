"""UI latency of the cockpit with 20 bots trading on the sim market at max speed.

Measures, in the running app (the real Engine on its own thread, in tmux 120x40):
  * UI loop lag: a 10 ms sleep on the app's loop, lateness p50/p99/max; first with nobody
    touching the app, then while the key probes run;
  * key-to-screen: a key press until the screen shows its effect, for a local key
    (j: select the next bot) and an engine round trip (space: pause/resume -> status text);
  * time to first screen of the real command in tmux, until the dashboard text appears.
Targets: p99 lag < 50 ms, p99 key-to-screen < 100 ms, first screen < 1.5 s.

    python bench/ui_latency.py [--seconds 20] [--bots 20] [--sim-speed max|N]
                               [--command "oxbot --db {db}"] [--headless]
                               [--no-foreground] [--switch-interval-ms MS] [--no-first-screen]

--no-foreground and --switch-interval-ms take the cockpit's UI-yield machinery out (tmux mode):
the replay never steps aside for the UI (engine/foreground.py), and the interpreter's switch
interval is MS instead of app/runtime.py's SHARED_SWITCH_INTERVAL_S (5 = Python's default).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

POLL_S = 0.010


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def screen_text(app) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(s.text for s in app.screen._compositor.render_strips())


async def wait_screen(app, needle: str, timeout: float = 2.0) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if needle in screen_text(app):
            return time.perf_counter()
        await asyncio.sleep(0.002)
    raise TimeoutError(f"{needle!r} never appeared")


async def in_app(n_bots: int, seconds: float) -> dict[str, list[float]]:
    from oxbot.app.inprocess import InProcessClient
    from oxbot.app.runtime import RuntimeOptions, build_engine
    from oxbot.engine.market.sim import SimConfig
    from oxbot.engine.models import BotConfig, BotStatus
    from oxbot.storage.store import Store
    from oxbot.tui.app import OxbotApp

    tmp = Path(tempfile.mkdtemp())
    symbols = [("BTC/USDT",), ("ETH/USDT",), ("SOL/USDT",), ("ETH/USDT", "SOL/USDT")]
    bots = [
        BotConfig(
            name=f"bot{i:02d}",
            symbols=symbols[i % 4],
            strategy="sma_cross" if i % 2 else "rsi_reversion",
            params={"fast": 3 + i % 4, "slow": 12 + i} if i % 2 else {},
        )
        for i in range(n_bots)
    ]
    opts = RuntimeOptions(
        db_path=tmp / "bench.db", sim=SimConfig(seed=3, speed=None), key_resolver=lambda _n: None
    )

    async def factory():  # type: ignore[no-untyped-def]
        store = await Store.open(opts.db_path)
        for cfg in bots:
            await store.save_bot(cfg, BotStatus.RUNNING)
        return await build_engine(opts, store=store)

    client = InProcessClient(factory)
    app = OxbotApp(client, settle_heap=True)
    lags: list[float] = []
    select_ms: list[float] = []
    pause_ms: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(1.0)
        stop = False

        async def probe() -> None:
            while not stop:
                t0 = time.perf_counter()
                await asyncio.sleep(0.010)
                lags.append((time.perf_counter() - t0 - 0.010) * 1000)

        task = asyncio.create_task(probe())
        await asyncio.sleep(seconds)  # lag alone first: the key probes below render screens
        stop = True
        await task
        end = time.perf_counter() + seconds
        i = 0
        while time.perf_counter() < end:
            i += 1
            screen = app.screen
            before = screen.selected
            names = app.state.bot_names()
            target = names[(names.index(before) + 1) % len(names)] if before in names else None
            t0 = time.perf_counter()
            # a key event as the terminal driver posts it (pilot.press waits for idle, which
            # never comes while 20 bots trade)
            app.simulate_key("j" if target != names[0] else "home")
            if target is not None:
                t1 = await wait_screen(app, f"Reasoning · {target}")
                select_ms.append((t1 - t0) * 1000)
            bot = app.state.bots.get(screen.selected or "")
            if bot is not None and bot.status.value in ("running", "paused"):
                want = "⏸ paused" if bot.status.value == "running" else "▶ running"
                count = screen_text(app).count(want)
                t0 = time.perf_counter()
                app.simulate_key("space")
                while screen_text(app).count(want) <= count:
                    await asyncio.sleep(0.002)
                    if time.perf_counter() - t0 > 2:
                        break
                pause_ms.append((time.perf_counter() - t0) * 1000)
            await asyncio.sleep(0.05)
        trades = sum(b.trades for b in app.state.bots.values())
        cycles = sum(b.cycles for b in app.state.bots.values())
        print(
            f"engine during the run: {len(app.state.bots)} bots, {cycles} cycles, "
            f"{trades} trades, {app.state.fills_total} fills shown"
        )
    client.stop(10)
    return {"lag": lags, "select": select_ms, "pause": pause_ms}


def bench_bots(n_bots: int):  # type: ignore[no-untyped-def]
    from oxbot.engine.models import BotConfig

    symbols = [("BTC/USDT",), ("ETH/USDT",), ("SOL/USDT",), ("ETH/USDT", "SOL/USDT")]
    return [
        BotConfig(
            name=f"bot{i:02d}",
            symbols=symbols[i % 4],
            strategy="sma_cross" if i % 2 else "rsi_reversion",
            params={"fast": 3 + i % 4, "slow": 12 + i} if i % 2 else {},
        )
        for i in range(n_bots)
    ]


def serve(
    n_bots: int,
    db: str,
    lag_out: str,
    sim_speed: str = "max",
    foreground: bool = True,
    switch_ms: float | None = None,
) -> int:
    """The app in a real terminal with ``n_bots`` on sim at max speed, probing its own loop
    lag (written to ``lag_out`` at exit): what a user in tmux gets, rendering included."""

    from oxbot.app.inprocess import InProcessClient
    from oxbot.app.runtime import RuntimeOptions, build_engine
    from oxbot.engine.market.sim import SimConfig
    from oxbot.engine.models import BotStatus
    from oxbot.storage.store import Store
    from oxbot.tui.app import OxbotApp

    speed = None if sim_speed == "max" else float(sim_speed)
    opts = RuntimeOptions(
        db_path=Path(db), sim=SimConfig(seed=3, speed=speed), key_resolver=lambda _n: None
    )

    async def factory():  # type: ignore[no-untyped-def]
        store = await Store.open(opts.db_path)
        for cfg in bench_bots(n_bots):
            await store.save_bot(cfg, BotStatus.RUNNING)
        return await build_engine(opts, store=store)

    lags: list[tuple[int, float]] = []

    class ProbedApp(OxbotApp):
        def on_mount(self) -> None:  # Textual also runs OxbotApp.on_mount (MRO dispatch)
            async def probe() -> None:
                await asyncio.sleep(2.0)  # past start-up
                while True:
                    t0 = time.perf_counter()
                    await asyncio.sleep(0.010)
                    t1 = time.perf_counter()
                    # the phase the driver is in: "lag" (nothing else) or "keys" (key probes)
                    phase = 1 if Path(lag_out + ".keys").exists() else 0
                    lags.append((phase, (t1 - t0 - 0.010) * 1000))

            self._probe = asyncio.create_task(probe())

    if switch_ms is not None:
        from oxbot.app import runtime  # noqa: PLC0415

        runtime.SHARED_SWITCH_INTERVAL_S = switch_ms / 1000  # read when the engine runs
    client = InProcessClient(factory)
    if not foreground:  # nothing marks the UI busy; the replay never steps aside
        client.foreground = None  # type: ignore[assignment]
    client.open()
    app = ProbedApp(client, settle_heap=True)
    started = time.monotonic()
    try:
        app.run()
    finally:
        elapsed = time.monotonic() - started
        cycles = sum(b.cycles for b in app.state.bots.values())
        client.stop(10)
        yielded = client.foreground.yielded_s if client.foreground is not None else 0.0
        Path(lag_out + ".engine").write_text(f"{cycles} {yielded:.3f} {elapsed:.3f}")
        Path(lag_out).write_text("\n".join(f"{p} {v:.3f}" for p, v in lags))
    return 0


def in_tmux(
    n_bots: int, seconds: float, sim_speed: str, serve_args: str = ""
) -> dict[str, list[float]]:
    """Key-to-screen as a user sees it: keys by send-keys, the screen read by capture-pane."""
    tmp = Path(tempfile.mkdtemp())
    name = f"oxbot-lat-{uuid.uuid4().hex[:6]}"
    lag_file = tmp / "lag.txt"
    cmd = (
        f"TERM=xterm-256color {shlex.quote(sys.executable)} {shlex.quote(__file__)} "
        f"--serve --bots {n_bots} --db {tmp / 'b.db'} --lag-out {lag_file} "
        f"--sim-speed {sim_speed}{serve_args}"
    )
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", name, "-x", "120", "-y", "40", cmd], check=True
    )

    def cap() -> str:
        return subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", name], capture_output=True, text=True
        ).stdout

    def keys(k: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", name, k], check=True)

    def until(pred, timeout: float = 3.0) -> float | None:  # type: ignore[no-untyped-def]
        # Each look is a `tmux capture-pane` process: polling faster than every 10 ms would
        # take a core from the app being measured (2-core machines). Adds <= 10 ms per reading.
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            if pred(cap()):
                return time.perf_counter()
            time.sleep(POLL_S)
        return None

    select_ms: list[float] = []
    pause_ms: list[float] = []
    floor_ms: list[float] = []
    try:
        if until(lambda t: "Reasoning · bot00" in t, 20) is None:
            raise RuntimeError("the dashboard never appeared:\n" + cap())
        time.sleep(2.0 + seconds)  # the loop lag alone: nobody presses keys or reads the screen
        Path(str(lag_file) + ".keys").touch()
        # The bench's own floor: a key bound to nothing (the app draws nothing for it), then
        # one look at the screen: what sending a key and reading the pane cost by themselves.
        for _ in range(20):
            t0 = time.perf_counter()
            keys("F12")
            t1 = until(lambda _t: True)
            if t1 is not None:
                floor_ms.append((t1 - t0) * 1000)
            time.sleep(0.05)
        end = time.perf_counter() + seconds
        i = 0
        while time.perf_counter() < end:
            i += 1
            target = f"bot{i % n_bots:02d}"
            t0 = time.perf_counter()
            keys("j" if i % n_bots else "Home")
            t1 = until(lambda t, tg=target: f"Reasoning · {tg}" in t)
            if t1 is not None:
                select_ms.append((t1 - t0) * 1000)
            row = re.compile(rf"{target} .*(▶ running|⏸ paused)")
            m = row.search(cap())
            if m:
                want = "⏸ paused" if m.group(1) == "▶ running" else "▶ running"
                t0 = time.perf_counter()
                keys("Space")
                t1 = until(lambda t, w=want, r=row: bool((x := r.search(t)) and x.group(1) == w))
                if t1 is not None:
                    pause_ms.append((t1 - t0) * 1000)
            time.sleep(0.1)
    finally:
        keys("q")  # bots run: the cockpit asks first (tui/app.py action_quit) ...
        time.sleep(0.5)
        keys("q")  # ... and a second q, with the question open, quits
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not lag_file.exists():
            time.sleep(0.1)
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)
    rows = [line.split() for line in lag_file.read_text().splitlines()] if lag_file.exists() else []
    engine = Path(str(lag_file) + ".engine")
    if engine.exists():
        cycles, yielded, elapsed = (float(x) for x in engine.read_text().split())
        print(
            f"engine: {cycles:.0f} bot cycles in {elapsed:.1f} s ({cycles / elapsed:.0f}/s); "
            f"it stepped aside for the UI {yielded:.1f} s ({yielded / elapsed:.0%})"
        )
    return {
        "lag": [float(v) for p, v in rows if p == "0"],
        "lag_keys": [float(v) for p, v in rows if p == "1"],
        "select": select_ms,
        "pause": pause_ms,
        "floor": floor_ms,
    }


def first_screen(command: str, runs: int = 3) -> list[float]:
    if shutil.which("tmux") is None:
        print("first screen: skipped, tmux is not installed")
        return []
    out = []
    for _ in range(runs):
        tmp = Path(tempfile.mkdtemp())
        name = f"oxbot-bench-{uuid.uuid4().hex[:6]}"
        cmd = command.format(db=tmp / "first.db", python=shlex.quote(sys.executable))
        env = (
            f"env HOME={tmp} XDG_CONFIG_HOME={tmp}/cfg XDG_DATA_HOME={tmp}/data "
            f"XDG_RUNTIME_DIR={tmp} TERM=xterm-256color"
        )
        t0 = time.perf_counter()
        subprocess.run(
            [
                "tmux",
                "new-session",
                "-d",
                "-s",
                name,
                "-x",
                "120",
                "-y",
                "40",
                f"{env} {cmd}; sleep 30",
            ],
            check=True,
        )
        try:
            while time.perf_counter() - t0 < 15:
                text = subprocess.run(
                    ["tmux", "capture-pane", "-p", "-t", name], capture_output=True, text=True
                ).stdout
                if "Bots" in text and "PAPER" in text:
                    out.append(time.perf_counter() - t0)
                    break
                if "Traceback" in text:
                    print(text)
                    break
                time.sleep(0.01)
            else:
                print("first screen: the dashboard never appeared:\n" + text)
        finally:
            subprocess.run(["tmux", "send-keys", "-t", name, "q"], capture_output=True)
            time.sleep(1.0)
            subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--bots", type=int, default=20)
    ap.add_argument(
        "--command",
        default="{python} -m oxbot.cli.main --db {db}",
        help="command for the first-screen timing; {db} and {python} are filled",
    )
    ap.add_argument(
        "--sim-speed",
        default="max",
        help="sim speed: max (lockstep, CPU-bound) or a multiple of real time",
    )
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    ap.add_argument("--lag-out", help=argparse.SUPPRESS)
    ap.add_argument(
        "--headless",
        action="store_true",
        help="measure in a headless app (no terminal, no rendering) instead of tmux",
    )
    ap.add_argument(
        "--no-foreground",
        action="store_true",
        help="the replay never steps aside while the UI draws (engine/foreground.py off)",
    )
    ap.add_argument(
        "--switch-interval-ms",
        type=float,
        default=None,
        help="the interpreter's switch interval in the cockpit (default: the app's)",
    )
    ap.add_argument("--no-first-screen", action="store_true", help="skip the first-screen part")
    args = ap.parse_args()
    if args.serve:
        return serve(
            args.bots,
            args.db,
            args.lag_out,
            args.sim_speed,
            foreground=not args.no_foreground,
            switch_ms=args.switch_interval_ms,
        )
    serve_args = " --no-foreground" if args.no_foreground else ""
    if args.switch_interval_ms is not None:
        serve_args += f" --switch-interval-ms {args.switch_interval_ms}"
    if args.headless or shutil.which("tmux") is None:
        print("mode: headless app (run_test): rendering is not included")
        r = asyncio.run(in_app(args.bots, args.seconds))
    else:
        print(
            f"mode: real terminal (tmux 120x40), {args.bots} bots on sim at speed "
            f"{args.sim_speed}, {args.seconds:.0f} s{serve_args}"
        )
        r = in_tmux(args.bots, args.seconds, args.sim_speed, serve_args)
    for key, label in (("lag", "UI loop lag"), ("lag_keys", "UI loop lag during key probes")):
        v = r.get(key, [])
        if v:
            print(
                f"{label} (10 ms probe, n={len(v)}): p50 {pct(v, 50):.1f} ms, "
                f"p99 {pct(v, 99):.1f} ms, max {max(v):.1f} ms [target p99 < 50]"
            )
    floor = r.get("floor", [])
    if floor:
        print(
            f"bench floor (a key bound to nothing, then one look at the pane), n={len(floor)}: "
            f"p50 {pct(floor, 50):.1f} ms, p99 {pct(floor, 99):.1f} ms"
        )
    for key, label in (
        ("select", "j (select next bot)"),
        ("pause", "space (pause/resume, engine round trip)"),
    ):
        v = r[key]
        print(
            f"key-to-screen {label}, n={len(v)}: p50 {pct(v, 50):.1f} ms, "
            f"p99 {pct(v, 99):.1f} ms [target p99 < 100]"
        )
    fs = [] if args.no_first_screen else first_screen(args.command)
    if fs:
        print(
            f"first screen ({args.command}), n={len(fs)}: median "
            f"{statistics.median(fs):.2f} s, max {max(fs):.2f} s [target < 1.5]"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
