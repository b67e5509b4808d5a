"""A Prometheus that hangs costs one timeout per back-off, not one per query.

A real TCP server that accepts connections and never answers: the first query waits for the
whole timeout, the next ones fail at once without a connection, naming the host and when it is
asked again, and are failed queries (never data).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from analysis import QueryFailed
from analysis.providers.prometheus import PrometheusProvider, PrometheusSettings


@contextmanager
def silent_server() -> Iterator[tuple[str, list[socket.socket]]]:
    """Accepts every connection, reads nothing back, answers nothing."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            accepted.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", accepted
    finally:
        stop.set()
        thread.join(timeout=5)
        for connection in accepted:
            connection.close()
        listener.close()


def test_after_one_timeout_queries_fail_at_once_without_a_connection() -> None:
    results: list[str] = []
    with silent_server() as (url, accepted):
        provider = PrometheusProvider(PrometheusSettings(url=url, timeout=1.0), results.append)
        at = datetime.now(UTC)
        first = provider.scalar("vector(1)", at, {})
        assert isinstance(first, QueryFailed) and "timed out" in first.message
        connections = len(accepted)
        second = provider.scalar("vector(2)", at, {})
        provider.close()
    assert isinstance(second, QueryFailed)
    assert "timed out before and is asked again in" in second.message
    assert "127.0.0.1" in second.message
    assert len(accepted) == connections, "the second query opened a connection"
    assert results == ["timeout", "skipped"]
