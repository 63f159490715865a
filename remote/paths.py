"""Where an engine's control socket lives: plain path arithmetic, no asyncio, no messages.

The cockpit asks it before its first frame (is an engine already running on this database?),
so it is kept apart from remote/server.py, which loads the engine's messages and their codec.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

# Linux allows 108 bytes in sun_path, macOS 104; stay well under both.
MAX_SOCKET_PATH = 100


def socket_path_for(db_path: Path, runtime_dir: Path) -> Path:
    """The control socket of the engine that owns ``db_path``: one socket per database.

    The name carries a hash of the resolved database path, so two databases never share a
    socket and every spelling of one path finds the same one. When ``runtime_dir`` is too deep
    for a Unix socket path, a per-user folder under /tmp is used instead.
    """
    digest = hashlib.sha256(str(db_path.expanduser().resolve()).encode()).hexdigest()[:16]
    name = f"engine-{digest}.sock"
    path = runtime_dir / name
    if len(os.fsencode(path)) >= MAX_SOCKET_PATH:
        path = Path("/tmp") / f"oxbot-{os.getuid()}" / name
    return path
