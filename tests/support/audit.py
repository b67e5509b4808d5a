"""Watch this process's file writes with a Python audit hook (PEP 578), for "writes nothing" tests.

Why an audit hook: the controller runs with a read-only root file system and no writable
``/tmp``, so code on its request path must not create files. Tests run as root in a writable
tree, where a read-only directory does not stop anyone; the interpreter's ``open``,
``tempfile.mkstemp``/``mkdtemp`` and ``os.mkdir`` audit events do see every attempt, from any
library. The hook is installed once (hooks cannot be removed) and records only inside
:func:`no_file_written`.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_WRITE_EVENTS = frozenset(
    {"tempfile.mkstemp", "tempfile.mkdtemp", "os.mkdir", "os.rename", "shutil.copyfile"}
)
_watching: list[list[str]] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _watching:
        return
    if event == "open":
        path, mode, flags = args
        if (isinstance(mode, str) and any(c in mode for c in "wax+")) or (flags or 0) & _WRITE_FLAGS:
            _watching[-1].append(f"open {path!r} {mode!r}")
    elif event in _WRITE_EVENTS:
        _watching[-1].append(f"{event} {args!r}")


sys.addaudithook(_audit)


@contextmanager
def no_file_written(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[str]]:
    """Record each file opened for writing, temp file or directory made in the block.

    TMPDIR points at a directory that does not exist meanwhile, as in the controller's pod.
    """
    monkeypatch.setenv("TMPDIR", str(tmp_path / "no-such-directory"))
    monkeypatch.setattr(tempfile, "tempdir", None)
    written: list[str] = []
    _watching.append(written)
    try:
        yield written
    finally:
        _watching.remove(written)
