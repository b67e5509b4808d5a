"""Structured logs: one JSON object per line in a cluster, readable console lines at a terminal.

Why structlog with context variables: a worker binds the rollout's ``key`` (``namespace/name``)
once per reconcile, and every line logged during that reconcile — by the controller, a router,
the analysis adapter — carries it without being passed along, so ``grep '"key": "ml/fraud"'``
finds a rollout's whole story. Log aggregators want JSON; people at a terminal do not, hence
``auto``: JSON unless the stream is a TTY.

**No secret reaches a log line.** Logs are read by far more people and systems than may read
Secrets, and a reconcile that fails while it holds a decoded bearer token or a Secret's whole
``data`` in its frames must not print them. Three defences, each enough on its own for what it
covers:

1. Tracebacks never carry frame locals: JSON uses ``ExceptionDictTransformer(show_locals=False)``
   and the console the plain formatter (structlog's defaults, and rich's, show locals).
2. :func:`redact` masks the value of every key that names a credential (``token``,
   ``password``, ``authorization``, ``secret``, ``data`` ...), at any depth, and
   ``Bearer``/``Basic`` credentials and ``token=...``-style pairs inside any text, exception
   messages included.
3. :func:`mask_line` runs on the rendered line: the inline patterns again (the console renderer
   formats tracebacks itself) and every value registered with :func:`register_secret` (the
   controller registers each value it reads from a Secret), wherever it appears.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Literal, TextIO

import structlog
from structlog.typing import EventDict, WrappedLogger

LogFormat = Literal["auto", "json", "console"]

MASK = "***"
SENSITIVE_KEY = re.compile(
    r"(token|passw|authori[sz]ation|secret|credential|api[-_]?key|cookie|private[-_]?key|^data$)",
    re.IGNORECASE,
)
"""Keys whose values are never logged (``data`` is a Secret's payload)."""
_INLINE = (
    (re.compile(r"\b(Bearer|Basic)(\s+)[A-Za-z0-9._~+/=:-]+", re.IGNORECASE), rf"\1\2{MASK}"),
    (
        re.compile(
            r"\b(\w*(?:token|passw\w*|secret|authorization|api[-_]?key))(\W{0,3}?[:=]\s*[\"']?)[^\s\"',;}&]+",
            re.IGNORECASE,
        ),
        rf"\1\2{MASK}",
    ),
)
MIN_SECRET_LENGTH = 8
"""Registered values shorter than this are not masked in text (they would mask ordinary words)."""
MAX_REGISTERED = 1024

_registered: OrderedDict[str, None] = OrderedDict()
_registered_lock = threading.Lock()


def register_secret(value: str) -> None:
    """Mask ``value`` (and its JSON-escaped form) wherever it appears in a log line from now on.

    Keeps the latest :data:`MAX_REGISTERED` values (rotated tokens push out old ones).
    """
    if len(value) < MIN_SECRET_LENGTH:
        return
    with _registered_lock:
        _registered[value] = None
        _registered.move_to_end(value)
        while len(_registered) > MAX_REGISTERED:
            _registered.popitem(last=False)


def _mask_text(text: str) -> str:
    for pattern, replacement in _INLINE:
        text = pattern.sub(replacement, text)
    return text


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return _mask_text(value)
    if isinstance(value, Mapping):
        return {
            key: MASK if isinstance(key, str) and SENSITIVE_KEY.search(key) else _mask(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_mask(item) for item in value]
    return value


def redact(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    """Processor: mask credential-named keys at any depth and credentials inside text.

    >>> redact(None, "info", {"event": "got Bearer abc.def", "headers": {"Authorization": "x"}})
    {'event': 'got Bearer ***', 'headers': {'Authorization': '***'}}
    """
    del logger, method
    return {
        key: MASK if SENSITIVE_KEY.search(key) and key != "event" else _mask(value)
        for key, value in event_dict.items()
    }


def mask_line(logger: WrappedLogger, method: str, line: str) -> str:
    """Processor after the renderer: mask inline credentials and every registered secret value.

    Runs on the rendered line because the console renderer formats a traceback itself, after
    :func:`redact` has seen the event.
    """
    del logger, method
    line = _mask_text(line)
    with _registered_lock:
        values = list(_registered)
    for value in values:
        for form in {value, json.dumps(value)[1:-1]}:
            if form in line:
                line = line.replace(form, MASK)
    return line


def configure_logging(
    log_format: LogFormat = "auto", level: str = "info", stream: TextIO | None = None
) -> None:
    """Set up structlog for the whole process: format, minimum level, and where lines go."""
    stream = stream or sys.stderr
    as_json = log_format == "json" or (log_format == "auto" and not stream.isatty())
    tracebacks = structlog.processors.ExceptionRenderer(
        structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
    )
    renderer: list[Any] = (
        [tracebacks, redact, structlog.processors.JSONRenderer(), mask_line]
        if as_json
        else [
            redact,
            structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback),
            mask_line,
        ]
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            *renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
