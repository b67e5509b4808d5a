"""Find test-bed processes still running under a state root, so a test run can fail on them.

Two sources, so that nothing escapes: the PIDs the state files recorded (checked against their
start times), and any process running one of the test bed's binaries whose command line
names a folder under the root (covers a launcher killed before it wrote its record). Processes
are identified by path and PID, never by name, so other users' clusters are never touched.
"""

from __future__ import annotations

from pathlib import Path

from rollouts.testbed.binaries import MissingBinariesError, find_binaries
from rollouts.testbed.process import ProcessRecord, processes_running, stop
from rollouts.testbed.state import all_states


def find_leftovers(marker: Path, recorded: list[ProcessRecord] | None = None) -> list[ProcessRecord]:
    """Running test-bed processes that mention ``marker`` (a state root or one test bed's folder).

    ``recorded``: further records to check (a test bed's own); every state file under
    ``marker`` is read too.
    """
    candidates = list(recorded or []) + [record for state in all_states(marker) for record in state.processes]
    running = {record.pid: record for record in candidates if record.is_running()}
    try:
        executables = find_binaries().executables()
    except MissingBinariesError:
        executables = ()
    for record in processes_running(executables, str(marker)):
        running.setdefault(record.pid, record)
    return sorted(running.values(), key=lambda record: record.pid)


def stop_leftovers(leftovers: list[ProcessRecord]) -> None:
    """Stop leftover processes by PID (clients first: the order their test bed started them, reversed)."""
    stop(sorted(leftovers, key=lambda record: record.start_time, reverse=True))
