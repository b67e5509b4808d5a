"""Start child processes in their own sessions, stop them by group, and stop them on signals.

Every process this project starts on the local machine — test-bed components, model servers,
Prometheus — goes through this module, so one set of rules covers them all:

**Identity.** A PID alone can be reused by an unrelated process once ours has exited, so every
record also keeps the process's start time (field 22 of ``/proc/<pid>/stat``): a process is
ours only if both match. Each child leads its own session and process group
(``start_new_session``), so a terminal's Ctrl-C does not reach it and stopping it signals
exactly that group: SIGTERM, a bounded wait, then SIGKILL, and the child is always reaped.

**Signals.** :func:`exit_on_signals` wraps the body of a command that starts processes
(``rollouts demo``, ``rollouts testbed up``). SIGINT, SIGTERM and SIGHUP all raise
:class:`Interrupted` (a ``KeyboardInterrupt``) in the main thread, so every ``with`` block and
``finally`` clause on the way out runs and stops what it started; the command then exits with
``128 + signal`` (130, 143, 129) like a shell reports a process killed by that signal. Without
it, Python's default SIGTERM and SIGHUP actions end the process on the spot and leave every
child (each in its own session, out of reach of the terminal) running. Only the first signal
raises: cleanup code already running is never cut short by a second one. A second signal
*hurries* the cleanup instead (:func:`hurried`): waits for graceful exits end at once and what
is left gets SIGKILL, still reaped. :func:`deferred_signals` marks short sections that must not
be cut in two (a child started but not yet recorded, a stop half done): a signal arriving there
is raised at the end of the section. When the body has unwound, any child started by
:func:`start_process` that is still registered is killed as a last resort.

**The owner killed outright.** SIGKILL cannot be caught, so on Linux each child started from
the main thread asks the kernel (``prctl(PR_SET_PDEATHSIG, SIGKILL)``, in a ``preexec_fn``
before ``exec``) to be killed when its owner dies. The kernel ties this to the *thread* that
forked the child, not to the process: a child forked from a worker thread would be killed when
that thread ends, while its owner still runs. Only main-thread spawns therefore get it (the
main thread lives as long as the process); children started from other threads rely on the
owner stopping them. SIGKILL rather than SIGTERM: nobody is left to read what a graceful stop
would save, and a graceful stop can hang (a kube-apiserver whose etcd got the same signal
waits for it). Processes meant to outlive their owner (``rollouts testbed up``) are started
with ``die_with_owner=False``.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import Any

STOP_GRACE_SECONDS = 10.0
"""How long a component may take to exit after SIGTERM before it gets SIGKILL."""

KILL_WAIT_SECONDS = 5.0
"""How long to wait for a process to vanish after SIGKILL (only a process stuck in the kernel
takes longer; shutdown does not wait for it forever)."""

SHUTDOWN_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
"""The signals that stop a command: Ctrl-C, a supervisor or CI timeout, a closed terminal."""

_POLL_SECONDS = 0.02
_PR_SET_PDEATHSIG = 1


# --- identity -------------------------------------------------------------------------------


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


# --- signals --------------------------------------------------------------------------------


class Interrupted(KeyboardInterrupt):
    """A shutdown signal arrived while :func:`exit_on_signals` was active.

    A ``KeyboardInterrupt`` (not an ``Exception``) so that ``except Exception`` handlers on the
    way out never swallow it, and code that already treats Ctrl-C right treats SIGTERM and
    SIGHUP the same way.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _SignalState:
    """What the handlers of one :func:`exit_on_signals` have seen; touched by the main thread only."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.raised = False
        self.deferring = 0

    def handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.received is not None:
            _hurry.set()  # a second signal: the user wants out now
            return
        self.received = signum
        if self.deferring == 0:
            self.raised = True
            raise Interrupted(signum)


class _Active:
    """The state of the :func:`exit_on_signals` in force (at most one: handlers are per process)."""

    state: _SignalState | None = None


_hurry = threading.Event()


def hurried() -> bool:
    """True once a second shutdown signal arrived: stop without waiting for graceful exits."""
    return _hurry.is_set()


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """A section a shutdown signal must not cut in two; the signal is raised when it ends.

    For a child started but not yet recorded, or a stop half done. Only the first signal is
    deferred, which is the one that would raise; a second one still hurries the section's
    waits. Without an active :func:`exit_on_signals`, or off the main thread (handlers run on
    the main thread only), this does nothing.
    """
    state = _Active.state
    if state is None or not _on_main_thread():
        yield
        return
    state.deferring += 1
    try:
        yield
    finally:
        state.deferring -= 1
    if state.deferring == 0 and state.received is not None and not state.raised:
        state.raised = True
        raise Interrupted(state.received)


@contextlib.contextmanager
def exit_on_signals(announce: Callable[[str], None] | None = None) -> Iterator[None]:
    """Run a command's body so that SIGINT, SIGTERM and SIGHUP stop it cleanly (module docstring).

    After the body has unwound, every child started in it and still registered is killed;
    then, if a signal arrived, ``announce`` gets its name (output errors ignored: after SIGHUP
    the terminal may be gone) and the command exits with ``SystemExit(128 + signal)``, whatever
    else went wrong on the way out (that is written to stderr in one line). Nested or off the
    main thread it does nothing: only the main thread may set signal handlers, and the outer
    one rules.
    """
    if _Active.state is not None or not _on_main_thread():
        yield
        return
    state = _SignalState()
    with _children_lock:  # the last resort is for children of this block, not older ones
        older = set(_children.values())
    previous = {signum: signal.getsignal(signum) for signum in SHUTDOWN_SIGNALS}
    _hurry.clear()
    _Active.state = state
    for signum in SHUTDOWN_SIGNALS:
        signal.signal(signum, state.handle)
    failure: BaseException | None = None
    try:
        yield
    except BaseException as error:
        if state.received is None:
            raise
        if not isinstance(error, Interrupted):
            failure = error
    finally:
        state.deferring += 1  # the last resort below must not be cut short by a first signal
        try:
            stop_children(spare=older)
        finally:
            _Active.state = None
            for signum, handler in previous.items():
                if handler is not None:
                    signal.signal(signum, handler)
            _hurry.clear()
    if state.received is None:
        return
    name = signal.Signals(state.received).name
    with contextlib.suppress(OSError, ValueError):
        if failure is not None:
            sys.stderr.write(f"while stopping after {name}: {type(failure).__name__}: {failure}\n")
        if announce is not None:
            announce(name)
    raise SystemExit(128 + state.received)


# --- starting and stopping children ---------------------------------------------------------


_children: dict[int, subprocess.Popen[bytes]] = {}
"""Children started with ``die_with_owner``, by PID, until stopped: what :func:`stop_children` kills."""
_children_lock = threading.Lock()


@dataclass
class Started:
    """A component this process started: its record and the handle that reaps it."""

    record: ProcessRecord
    popen: subprocess.Popen[bytes]


@dataclass(frozen=True)
class _Prctl:
    function: Callable[..., int]


def _load_prctl() -> _Prctl | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    function.restype = ctypes.c_int
    return _Prctl(function)


_PRCTL = _load_prctl()


def _die_with_owner_hook() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking the kernel to SIGKILL the child when this thread ends (module doc).

    It runs in the child between fork and exec, so it does as little as possible: one system
    call, and a check that the owner did not die before that call (then nobody would send the
    signal, so the child ends itself).
    """
    if _PRCTL is None or not _on_main_thread():
        return None
    prctl, owner, kill = _PRCTL.function, os.getpid(), int(signal.SIGKILL)

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, kill, 0, 0, 0)
        if os.getppid() != owner:
            os.kill(os.getpid(), kill)

    return hook


def start_process(
    argv: Sequence[str],
    log: Path,
    *,
    env: Mapping[str, str] | None = None,
    die_with_owner: bool = True,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a new session, stdin closed, stdout and stderr appended to ``log``.

    ``die_with_owner`` (the default): the child is registered until :func:`stop_process` (or
    :func:`stop`) reaps it, so :func:`exit_on_signals` can kill it as a last resort, and when
    started from the main thread it is killed by the kernel if this process dies. ``False``
    for processes meant to outlive the command that starts them.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    hook = _die_with_owner_hook() if die_with_owner else None
    with deferred_signals():  # a child started is a child registered
        with log.open("ab") as sink:
            popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=dict(env) if env is not None else None,
                preexec_fn=hook,  # noqa: PLW1509 - one prctl call, see _die_with_owner_hook
            )
        if die_with_owner:
            with _children_lock:
                _children[popen.pid] = popen
    return popen


def spawn(name: str, argv: Sequence[str], log: Path, *, die_with_owner: bool = True) -> Started:
    """:func:`start_process`, with the record (PID and start time) that a state file keeps."""
    popen = start_process(argv, log, die_with_owner=die_with_owner)
    started = start_time(popen.pid)
    if started is None:  # exited before we could read /proc: record it as already gone
        popen.wait()
        started = -1
    return Started(ProcessRecord(name, popen.pid, started, str(argv[0]), str(log)), popen)


def _forget(popen: subprocess.Popen[bytes]) -> None:
    with _children_lock:
        if _children.get(popen.pid) is popen:
            del _children[popen.pid]


def _killpg(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signum)  # the child leads its own process group


def _wait_exit(popen: subprocess.Popen[bytes], seconds: float, *, until_hurried: bool = True) -> bool:
    """Reap ``popen`` within ``seconds`` (less once hurried); True if it has exited."""
    deadline = time.monotonic() + seconds
    while popen.poll() is None:
        if time.monotonic() >= deadline or (until_hurried and hurried()):
            return False
        time.sleep(_POLL_SECONDS)
    return True


def stop_process(popen: subprocess.Popen[bytes], grace: float = STOP_GRACE_SECONDS) -> int | None:
    """Stop a child of :func:`start_process`: SIGTERM to its group, ``grace`` seconds, SIGKILL.

    Once :func:`hurried`, SIGKILL at once. The child is reaped (so no zombie is left); its exit
    status is returned, None only if it did not vanish even after SIGKILL.
    """
    with deferred_signals():
        if popen.poll() is None:
            if not hurried():
                _killpg(popen.pid, signal.SIGTERM)
                _wait_exit(popen, grace)
            if popen.poll() is None:
                _killpg(popen.pid, signal.SIGKILL)
                _wait_exit(popen, KILL_WAIT_SECONDS, until_hurried=False)
        _forget(popen)
    return popen.returncode


def stop_children(spare: Collection[subprocess.Popen[bytes]] = ()) -> None:
    """SIGKILL every registered child still running and reap it: the last resort on the way out.

    ``spare``: children to leave alone (those started before an :func:`exit_on_signals` block,
    say a test session's test bed when a test runs a command in-process).
    """
    with _children_lock:
        children = [popen for popen in _children.values() if popen not in spare]
    for popen in children:
        if popen.poll() is None:
            _killpg(popen.pid, signal.SIGKILL)
    for popen in children:
        _wait_exit(popen, KILL_WAIT_SECONDS, until_hurried=False)
        _forget(popen)


def _signal(record: ProcessRecord, signum: int) -> None:
    if record.is_running():
        _killpg(record.pid, signum)


def stop(records: Iterable[ProcessRecord], owned: dict[int, subprocess.Popen[bytes]] | None = None) -> None:
    """Stop each process group in turn: SIGTERM, wait, SIGKILL what outlives the grace period.

    One at a time, in the order given (clients before the API server, the API server before
    etcd): a kube-apiserver whose etcd is already gone hangs in its graceful shutdown. Once
    :func:`hurried`, everything left gets SIGKILL without waiting. ``owned`` maps PIDs this
    process started to their handles, which are reaped so that no zombie is left; other
    records (a test bed started by another process) are polled.
    """
    owned = owned or {}
    with deferred_signals():
        for record in records:
            popen = owned.get(record.pid)
            if not hurried():
                _signal(record, signal.SIGTERM)
                _wait_gone(record, popen, STOP_GRACE_SECONDS, until_hurried=True)
            if record.is_running():
                _signal(record, signal.SIGKILL)
                _wait_gone(record, popen, KILL_WAIT_SECONDS, until_hurried=False)
            if popen is not None:
                popen.poll()  # reap it if it is gone (a record that was never running included)
                _forget(popen)


def _wait_gone(
    record: ProcessRecord, popen: subprocess.Popen[bytes] | None, seconds: float, *, until_hurried: bool
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (until_hurried and hurried()):
        if popen is not None:
            if popen.poll() is not None:
                return
        elif not record.is_running():
            return
        time.sleep(_POLL_SECONDS)


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
