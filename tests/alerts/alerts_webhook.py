"""Local stand-ins for a webhook on 127.0.0.1: one that records what apprise POSTs, one that
accepts connections and never answers (a hung service).

What apprise's ``json://host:port/path`` plugin sends (read in apprise 2.3.0,
apprise/plugins/custom_json.py, ``JSONPayloadField`` and ``NotifyJSON.send``; documented at
https://appriseit.com/services/json/): an HTTP POST to http://host:port/path with the body
``{"version": "1.0", "title": ..., "message": ..., "attachments": [], "type": "info"}``,
Content-Type application/json; any 2xx answer counts as delivered.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Webhook:
    """A recording webhook; ``status`` is what it answers (500 to make deliveries fail)."""

    def __init__(self, status: int = 200) -> None:
        self.posts: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.status = status
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                hook.posts.append(body)
                hook.paths.append(self.path)
                self.send_response(hook.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hook"

    def messages(self) -> list[str]:
        return [str(p.get("message", "")) for p in self.posts]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class HangingHook:
    """Accepts TCP connections and never reads or answers them."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hook"

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()
