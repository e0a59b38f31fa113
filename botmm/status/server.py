"""The status server: a small HTTP server in a daemon thread of ``botmm run`` (and ``botmm record``).

Endpoints: ``/`` (the status page), ``/fragment`` (the page's live part, which the page re-fetches),
``/api/status`` (the snapshot as JSON), ``/metrics`` (Prometheus) and ``/healthz`` (200 ``ok`` while every asset has
fresh data and confirmed orders, else 503 and the reason). Each request reads the running job's state once; nothing
runs per tick.

It listens on 127.0.0.1 by default. Any other address needs a token (from the environment variable ``token_env``
or the file ``token_file``, never a config value, so it stays out of ``.hydra/``): requests then carry
``Authorization: Bearer <token>`` or ``?token=<token>`` and get 401 without it. Every body is passed through the
secret redactor (:mod:`botmm.secrets`) as a last defence: no key or token is ever sent.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Optional
from urllib.parse import parse_qs, urlsplit

from omegaconf import DictConfig
from prometheus_client import CONTENT_TYPE_LATEST

from botmm.config import require, to_params
from botmm.errors import ConfigError
from botmm.secrets import REDACTOR

from .metrics import Metrics
from .page import fragment, page
from .snapshot import health

log = logging.getLogger("botmm.status")
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
SHUTDOWN_POLL_S = 0.05  # how long closing may wait for the serving loop: the bot's exit is due within 5 s


@dataclass
class ServerParams:
    enabled: bool = True  # serve the status page, /metrics and /healthz
    host: str = "127.0.0.1"  # another address (0.0.0.0 for Docker) needs a token
    port: int = 8787  # 0: any free port (the log line says which)
    token_env: Optional[str] = "BOTMM_STATUS_TOKEN"  # environment variable holding the access token
    token_file: Optional[str] = None  # or a file holding it (wins over token_env)

    def __post_init__(self) -> None:
        require(0 <= self.port <= 65535, self, "port", "must be in [0, 65535]")
        require(bool(self.host.strip()), self, "host", "must not be empty")


def read_token(params: ServerParams) -> Optional[str]:
    """The access token from ``token_file`` or ``token_env`` (None when neither holds one); registered with the
    log redactor so it is never logged."""
    if params.token_file:
        file = Path(params.token_file).expanduser()
        if not file.is_file():
            raise ConfigError(f"server.token_file={params.token_file}: no such file")
        try:
            token = file.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"server.token_file={params.token_file}: cannot be read ({exc.strerror})") from None
    else:
        token = os.environ.get(params.token_env or "", "").strip()
    if token:
        REDACTOR.add(token)
    return token or None


class StatusServer:
    """Binds at construction (so a busy port fails before the job connects anywhere); serves once :meth:`serve`
    hands it the job's snapshot source."""

    def __init__(self, params: ServerParams, token: Optional[str], title: str):
        self.params, self.title, self._token = params, title, token
        self._assets: Callable[[], list[dict[str, Any]]] = list
        self._section: Callable[[dict[str, Any]], str] = str
        self.metrics = Metrics(self._snapshot)
        try:
            self.httpd = ThreadingHTTPServer((params.host, params.port), _handler(self))
        except OSError as exc:
            raise ConfigError(f"server.port={params.port}: cannot listen on {params.host}:{params.port} "
                              f"({exc.strerror}); pick another port or server.enabled=false") from None
        self.httpd.daemon_threads = True
        self._thread: Optional[threading.Thread] = None
        self.on_close: list[Callable[[], None]] = []

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/"

    def serve(self, assets: Callable[[], list[dict[str, Any]]], section: Callable[[dict[str, Any]], str]) -> None:
        """Start answering requests from ``assets()`` (the snapshot dicts), rendering each with ``section``."""
        self._assets, self._section = assets, section
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(SHUTDOWN_POLL_S,),
                                        name="botmm-status", daemon=True)
        self._thread.start()
        log.info("status page at %s (metrics at /metrics, health at /healthz)", self.url)

    def close(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
        self.httpd.server_close()
        for cleanup in self.on_close:
            cleanup()

    def _snapshot(self) -> list[dict[str, Any]]:
        return self._assets()

    def authorised(self, headers: Any, query: dict[str, list[str]]) -> bool:
        if self._token is None:
            return True
        auth = headers.get("Authorization", "")
        given = auth[7:] if auth.startswith("Bearer ") else (query.get("token") or [""])[0]
        return hmac.compare_digest(given.encode(), self._token.encode())

    def answer(self, path: str) -> tuple[int, str, bytes]:
        """(status, content type, body) of one authorised GET."""
        if path == "/metrics":
            return 200, CONTENT_TYPE_LATEST, self.metrics.render()
        assets = self._snapshot()
        healthy, reason = health(assets)
        if path == "/healthz":
            return (200 if healthy else 503), "text/plain; charset=utf-8", f"{reason}\n".encode()
        if path == "/api/status":
            body = {"healthy": healthy, "reason": reason, "assets": assets}
            return 200, "application/json", json.dumps(body, default=str).encode()
        if path in ("/", "/fragment"):
            live = fragment(assets, healthy, reason, self._section)
            text = page(self.title, live) if path == "/" else live
            return 200, "text/html; charset=utf-8", text.encode()
        return 404, "text/plain; charset=utf-8", b"not found\n"


def _handler(server: StatusServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # requests are not worth a log line each
            pass

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if not server.authorised(self.headers, parse_qs(url.query)):
                status, kind, body = 401, "text/plain; charset=utf-8", b"401: token required\n"
            else:
                try:
                    status, kind, body = server.answer(url.path)
                except Exception as exc:  # a snapshot racing the tick thread must not kill the server
                    log.warning("status request %s failed: %s", url.path, exc)
                    status, kind, body = 500, "text/plain; charset=utf-8", b"internal error\n"
            body = REDACTOR.redact(body.decode()).encode()
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            if status == 401:
                self.send_header("WWW-Authenticate", "Bearer")
            self.end_headers()
            self.wfile.write(body)

    return Handler


def open_server(cfg: DictConfig, title: str) -> Optional[StatusServer]:
    """Check ``cfg.server`` and bind the status server (None when disabled); one-line ConfigErrors naming the key.
    A non-local ``host`` without a token is refused."""
    params = to_params(ServerParams, cfg.get("server") or {}, "server")
    if not params.enabled:
        return None
    token = read_token(params)
    if token is None and params.host not in LOCAL_HOSTS:
        source = (f"the file {params.token_file}" if params.token_file else
                  f"${params.token_env}" if params.token_env else "server.token_env or server.token_file")
        raise ConfigError(f"server.host={params.host}: a non-local bind needs an access token; put one in "
                          f"{source} (or keep server.host=127.0.0.1)")
    return StatusServer(params, token, title)
