"""A webhook receiver on loopback for the notification tests: it records every request it gets.

It answers each request with the next status of its script (``answers``), then 200, so a test
can make it fail a few times; :meth:`Receiver.wait` blocks on a condition that every request
notifies, so tests synchronise on requests received, never on time passing.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it, and what it answered."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    answered: int

    @property
    def event_id(self) -> str:
        return self.headers.get("X-Model-Rollouts-Event-Id", "")


class Receiver:
    """An HTTP server on 127.0.0.1:``port`` (0: any free port) recording POSTs."""

    def __init__(self, port: int = 0, answers: Iterable[int] = ()) -> None:
        self._answers = list(answers)
        self._changed = threading.Condition()
        self.received: list[Received] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with receiver._changed:
                    status = receiver._answers.pop(0) if receiver._answers else 200
                    receiver.received.append(Received(self.path, dict(self.headers), body, status))
                    receiver._changed.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                del format, args

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def wait(self, condition: Callable[[list[Received]], bool], timeout: float, what: str) -> list[Received]:
        """Block until ``condition(received)`` holds; AssertionError naming ``what`` otherwise."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition(self.received):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {what}; received {self.received}")
                self._changed.wait(left)
            return list(self.received)


def accepted_by_id(received: list[Received]) -> dict[str, int]:
    """How many times each event id was answered 2xx."""
    counts: dict[str, int] = {}
    for request in received:
        if 200 <= request.answered < 300:
            counts[request.event_id] = counts.get(request.event_id, 0) + 1
    return counts
