"""A slow HTTP proxy in front of a real server, to test what a slow Prometheus does to a rollout.

Everything it answers comes from the real server behind it; it only waits ``delay`` seconds
(changeable while it runs) before forwarding each request. Each request it holds back is counted
and signalled (:meth:`SlowProxy.wait_until_held`), so a test knows a client is waiting on it now
instead of guessing with a sleep. With ``count_authorization`` it also counts the requests that
carry that exact ``Authorization`` header (the safety campaign proves a planted token was really
sent). While the upstream is down it answers nothing at all — it closes the connection, as a dead
server would — rather than a made-up error. Loopback only.
"""

from __future__ import annotations

import threading
from contextlib import suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

import requests


class SlowProxy:
    """Forwards GET and POST to ``upstream`` after ``delay`` seconds."""

    def __init__(self, upstream: str, delay: float = 0.0, count_authorization: str | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.delay = delay
        self.authorized_requests = 0
        """Requests whose Authorization header was ``count_authorization``."""
        self.held_requests = 0
        self._held = threading.Condition()
        self._closing = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self, method: str) -> None:
                proxy._hold()
                if (
                    count_authorization is not None
                    and self.headers.get("Authorization") == count_authorization
                ):
                    proxy._count()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")
                }
                try:
                    answer = requests.request(
                        method, proxy.upstream + self.path, data=body, headers=headers, timeout=60
                    )
                except requests.RequestException:
                    self.close_connection = True  # a dead upstream: no answer at all
                    return
                with suppress(OSError):  # the client gave up (a killed controller, a timeout)
                    self.send_response(answer.status_code)
                    self.send_header("Content-Type", answer.headers.get("Content-Type", "application/json"))
                    self.send_header("Content-Length", str(len(answer.content)))
                    self.end_headers()
                    self.wfile.write(answer.content)

            def do_GET(self) -> None:
                self._forward("GET")

            def do_POST(self) -> None:
                self._forward("POST")

            def log_message(self, *_: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _count(self) -> None:
        with self._held:
            self.authorized_requests += 1

    def _hold(self) -> None:
        delay = self.delay
        if delay <= 0:
            return
        with self._held:
            self.held_requests += 1
            self._held.notify_all()
        self._closing.wait(delay)

    def wait_until_held(self, count: int, timeout: float) -> bool:
        """Block until ``count`` requests in all have been held back; False after ``timeout``."""
        with self._held:
            return self._held.wait_for(lambda: self.held_requests >= count, timeout)

    @property
    def url(self) -> str:
        """Where to point a client instead of the upstream."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> SlowProxy:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
