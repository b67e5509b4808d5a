"""Start test-bed components in their own sessions and stop them by recorded PID, never by name.

A PID alone can be reused by an unrelated process once ours has exited, so every record also
keeps the process's start time (field 22 of ``/proc/<pid>/stat``): a process is ours only if
both match. Each component leads its own session and process group (``start_new_session``), so
a terminal's Ctrl-C does not reach it and stopping it signals exactly that group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

STOP_GRACE_SECONDS = 10.0
"""How long a component may take to exit after SIGTERM before it gets SIGKILL."""


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name, or None if there is no such PID."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) is in parentheses and may itself contain spaces or ')'.
    return text[text.rindex(")") + 2 :].split()


def start_time(pid: int) -> int | None:
    """When the process started, in clock ticks after boot; None if it does not exist."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


@dataclass(frozen=True)
class ProcessRecord:
    """What identifies one started component: name, PID, start time, binary and log file."""

    name: str
    pid: int
    start_time: int
    binary: str
    log: str

    def is_running(self) -> bool:
        """True while this very process (not a later one with the same PID) is alive."""
        fields = _stat_fields(self.pid)
        return fields is not None and int(fields[19]) == self.start_time and fields[0] != "Z"

    def as_json(self) -> dict[str, Any]:
        """The record as plain data for the state file."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProcessRecord:
        """Read a record back from the state file."""
        return cls(
            name=str(data["name"]),
            pid=int(data["pid"]),
            start_time=int(data["start_time"]),
            binary=str(data["binary"]),
            log=str(data["log"]),
        )


@dataclass
class Started:
    """A component this process started: its record and the handle that reaps it."""

    record: ProcessRecord
    popen: subprocess.Popen[bytes]


def spawn(name: str, argv: Sequence[str], log: Path) -> Started:
    """Start ``argv`` in a new session, stdin closed, stdout and stderr appended to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as sink:
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    started = start_time(popen.pid)
    if started is None:  # exited before we could read /proc: record it as already gone
        popen.wait()
        started = -1
    return Started(ProcessRecord(name, popen.pid, started, str(argv[0]), str(log)), popen)


def _signal(record: ProcessRecord, signum: int) -> None:
    if record.is_running():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(record.pid, signum)  # the component leads its own process group


def stop(records: Iterable[ProcessRecord], owned: dict[int, subprocess.Popen[bytes]] | None = None) -> None:
    """Stop each process group in turn: SIGTERM, wait, SIGKILL what outlives the grace period.

    One at a time, in the order given (clients before the API server, the API server before
    etcd): a kube-apiserver whose etcd is already gone hangs in its graceful shutdown.
    ``owned`` maps PIDs this process started to their handles, which are reaped so that no
    zombie is left; other records (a test bed started by another process) are polled.
    """
    owned = owned or {}
    for record in records:
        _signal(record, signal.SIGTERM)
        _wait_gone(record, owned.get(record.pid), time.monotonic() + STOP_GRACE_SECONDS)
        if record.is_running():
            _signal(record, signal.SIGKILL)
            _wait_gone(record, owned.get(record.pid), time.monotonic() + STOP_GRACE_SECONDS)


def _wait_gone(record: ProcessRecord, popen: subprocess.Popen[bytes] | None, deadline: float) -> None:
    while time.monotonic() < deadline:
        if popen is not None:
            if popen.poll() is not None:
                return
        elif not record.is_running():
            return
        time.sleep(0.05)


def processes_running(executables: Collection[Path], marker: str) -> list[ProcessRecord]:
    """Every process running one of ``executables`` whose command line contains ``marker``.

    ``marker`` is a test bed's own folder: each component's flags name files in it. This finds
    components even when no state file recorded them (a launcher killed between starting a
    process and writing its record), and never matches an unrelated process that merely has
    the same name or happens to mention the folder (an editor, ``tail -f`` on a log).
    """
    wanted = {str(path) for path in executables}
    found: list[ProcessRecord] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            exe = os.readlink(entry / "exe")
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile, or another user's process
            continue
        args = [arg.decode(errors="replace") for arg in argv if arg]
        if exe not in wanted or not any(marker in arg for arg in args):
            continue
        pid = int(entry.name)
        started = start_time(pid)
        if started is not None:
            record = ProcessRecord(Path(exe).name, pid, started, exe, "")
            if record.is_running():
                found.append(record)
    return found
