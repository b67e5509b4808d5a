"""A watch stream's events, cut where a broken connection or ``close()`` cuts them.

On real urllib3 responses from a local HTTP server that sends the given bytes and closes the
connection (the body ends where the connection does). The API server ends each event with a
newline, and the bytes of an event the stream ended inside must never be decoded: they were, and
a cut inside a multi-byte character surfaced as a UnicodeDecodeError that the informer logged as
a bug (seen in bench/scale.py at 1,000 rollouts). A whole line that is not a JSON event is a
broken watch too (resumed from the last event's version); after ``close()`` nothing more is
decoded at all.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import urllib3

from rollouts.controller.shell.resources import MODEL_ROLLOUTS
from rollouts.runtime.kube import Unavailable, WatchStream, _Call

ADDED = json.dumps({"type": "ADDED", "object": {"metadata": {"name": "fraud", "resourceVersion": "7"}}})
CUT = '{"type": "MODIFIED", "object": {"metadata": {"name": "dé'.encode()[:-1]
"""An event cut inside the two bytes of "é": no newline, not JSON, not UTF-8."""


@pytest.fixture
def watch_of() -> Iterator[Callable[[bytes], WatchStream]]:
    """A watch stream whose server sends ``body`` and closes the connection."""
    bodies: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(bodies.pop(0))

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/watch"

    def watch(body: bytes) -> WatchStream:
        bodies.append(body)
        response = urllib3.PoolManager().request("GET", url, preload_content=False)
        return WatchStream(response, _Call("watch", MODEL_ROLLOUTS))

    yield watch
    server.shutdown()
    server.server_close()


def test_events_ended_by_newlines_are_read_and_a_clean_end_just_ends(
    watch_of: Callable[[bytes], WatchStream],
) -> None:
    events = list(watch_of(f"{ADDED}\n{ADDED}\n".encode()))
    assert [(event.type, event.object["metadata"]["name"]) for event in events] == [("ADDED", "fraud")] * 2


def test_a_stream_that_ends_inside_an_event_is_a_broken_watch_after_the_whole_events(
    watch_of: Callable[[bytes], WatchStream],
) -> None:
    events = iter(watch_of(f"{ADDED}\n".encode() + CUT))
    assert next(events).type == "ADDED"
    with pytest.raises(Unavailable, match="watch ended inside an event"):
        next(events)


def test_a_stream_closed_by_its_reader_ends_quietly_whatever_it_was_inside(
    watch_of: Callable[[bytes], WatchStream],
) -> None:
    watch = watch_of(f"{ADDED}\n".encode() + CUT)
    events = iter(watch)
    assert next(events).type == "ADDED"
    watch.close()
    assert list(events) == []


def test_a_whole_line_that_is_not_an_event_is_a_broken_watch(
    watch_of: Callable[[bytes], WatchStream],
) -> None:
    events = iter(watch_of(f"{ADDED}\n".encode() + CUT + b"\n" + f"{ADDED}\n".encode()))
    assert next(events).type == "ADDED"
    with pytest.raises(Unavailable, match=r"watch sent a line that is not a JSON event \(\d+ bytes\)"):
        next(events)


def test_a_line_cut_by_close_ends_the_stream_quietly(watch_of: Callable[[bytes], WatchStream]) -> None:
    """Seen in bench/scale.py: a controller told to stop shut its watches down while a thread was
    reading one, and the line it then read (newline and all) was not UTF-8 at byte 4095; the
    informer logged that as a bug."""
    watch = watch_of(f"{ADDED}\n".encode() + CUT + b"\n")
    events = iter(watch)
    assert next(events).type == "ADDED"
    watch.close()
    assert list(events) == []
