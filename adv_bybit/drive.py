"""Minute-by-minute fault campaign against a running fake + oxbot engine (adversary s25).
python drive.py PORT OXBOT_HOME  — before each minute's orders, sets one scenario; may SIGKILL the
engine mid-order and restart it. Logs to OXBOT_HOME/drive.log."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

PORT, HOME = int(sys.argv[1]), sys.argv[2]
DEFAULT = {
    "fee_coin": "native",
    "fee_field": "feeCoin",
    "parts": 1,
    "fill_ratio": 1,
    "drop_create": 0,
    "stall_create": 0,
    "late_create": 0,
    "late_after_s": 3.0,
    "rate_limit": 0,
    "server_error": 0,
    "malformed": 0,
    "match_delay_s": 0.3,
}
SCEN = [
    ("drop reply after apply", {"drop_create": 2}),
    ("fee in MNT", {"fee_coin": "MNT", "parts": 2}),
    ("late apply 3s", {"late_create": 2, "late_after_s": 3.0}),
    ("fee in quote", {"fee_coin": "quote"}),
    ("stall + SIGKILL", {"stall_create": 2, "kill": True}),
    ("partial cancel 4 parts", {"parts": 4, "fill_ratio": 0.5}),
    ("late apply 14s", {"late_create": 2, "late_after_s": 14.0}),
    ("5xx", {"server_error": 1}),
    ("slow match 5s", {"match_delay_s": 5.0}),
    ("malformed", {"malformed": 1}),
    ("rate limit", {"rate_limit": 1}),
    ("plain", {}),
]


def ctl(d):
    req = urllib.request.Request(
        f"http://127.0.0.1:{PORT}/_ctl",
        json.dumps(d).encode(),
        {"Content-Type": "application/json"},
    )
    urllib.request.urlopen(req).read()


def log(msg):
    with open(os.path.join(HOME, "drive.log"), "a") as f:
        f.write(time.strftime("%H:%M:%S ") + msg + "\n")


def start_engine():
    env = dict(os.environ, OXBOT_HOME=HOME)
    out = open(os.path.join(HOME, "engine.out"), "a")
    p = subprocess.Popen(
        ["/work/wt/adv/.venv/bin/oxbot", "run", "--headless"],
        env=env,
        stdout=out,
        stderr=out,
        start_new_session=True,
    )
    open(os.path.join(HOME, "engine.pid"), "w").write(str(p.pid))
    return p


for name, sc in SCEN:
    while time.time() % 60 < 55:
        time.sleep(0.5)
    kill = sc.pop("kill", False)
    ctl({**DEFAULT, **sc})
    log(f"scenario: {name} {sc}")
    time.sleep(6.5)  # orders go out ~1 s after the minute
    if kill:
        pid = int(open(os.path.join(HOME, "engine.pid")).read())
        os.kill(pid, signal.SIGKILL)
        log(f"SIGKILL engine {pid}")
        time.sleep(2)
        start_engine()
        log("engine restarted")
    time.sleep(40)
ctl(DEFAULT)
log("done")
