"""A loopback stand-in for a Discord webhook: ``POST /webhook`` on 127.0.0.1 takes ``{"content": ...}`` messages.

Like Discord it answers 204, and enforces a bucket of ``bucket_size`` posts per ``bucket_s`` seconds, announcing it
with ``X-RateLimit-Limit``/``-Remaining``/``-Reset-After`` headers; a post beyond the bucket gets a 429 with a JSON
``retry_after`` (seconds) and is counted in :attr:`DiscordServer.violations`. ``script`` queues status codes to
answer first (``429`` comes with ``retry_after`` = ``scripted_retry_after``; ``500`` fails the post).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional


@dataclass
class Post:
    at: float  # time.monotonic() when it arrived
    body: dict[str, Any]
    status: int


@dataclass
class DiscordServer:
    bucket_size: int = 5
    bucket_s: float = 2.0
    script: list[int] = field(default_factory=list)
    scripted_retry_after: float = 0.5
    posts: list[Post] = field(default_factory=list)
    violations: int = 0
    _window: list[float] = field(default_factory=list)
    _server: Optional[ThreadingHTTPServer] = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def messages(self) -> list[str]:
        """Contents accepted (204), in arrival order."""
        return [p.body["content"] for p in self.posts if p.status == 204]

    def start(self) -> str:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status, headers, payload = owner._answer(body)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                data = json.dumps(payload).encode() if payload is not None else b""
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}/webhook"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _answer(self, body: dict[str, Any]) -> tuple[int, dict[str, str], Optional[dict[str, Any]]]:
        with self._lock:
            now = time.monotonic()
            if self.script:
                status = self.script.pop(0)
                self.posts.append(Post(now, body, status))
                if status == 429:
                    return 429, {"Retry-After": "9"}, {"message": "You are being rate limited.",
                                                       "retry_after": self.scripted_retry_after, "global": False}
                return status, {}, {"message": "scripted failure"}
            self._window = [t for t in self._window if t > now - self.bucket_s]
            if len(self._window) >= self.bucket_size:
                self.violations += 1
                self.posts.append(Post(now, body, 429))
                retry = self._window[0] + self.bucket_s - now
                return 429, {}, {"message": "You are being rate limited.", "retry_after": retry, "global": False}
            self._window.append(now)
            self.posts.append(Post(now, body, 204))
            remaining = self.bucket_size - len(self._window)
            reset = self._window[0] + self.bucket_s - now
            return 204, {"X-RateLimit-Limit": str(self.bucket_size), "X-RateLimit-Remaining": str(remaining),
                         "X-RateLimit-Reset-After": f"{reset:.3f}"}, None
