"""The state file through which one process finds a test bed that another process started.

``rollouts testbed up`` starts the components and exits; ``rollouts testbed down`` (another
process, maybe another shell) reads ``<state root>/<name>/state.json`` to learn the PIDs and
start times to stop, and the folder to remove. The launcher rewrites the file after every
process it starts, so even a launcher killed halfway leaves a record of what it started.

The state root is ``$MODEL_ROLLOUTS_TESTBED_STATE_DIR`` or
``${XDG_STATE_HOME:-~/.local/state}/model-rollouts/testbed``; a test run points the variable at
a fresh folder so that its leftover check sees its own test beds and nobody else's.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rollouts.testbed.process import ProcessRecord

STATE_DIR_VARIABLE = "MODEL_ROLLOUTS_TESTBED_STATE_DIR"
STATE_FILE = "state.json"


def state_root() -> Path:
    """Where test beds keep their folders and state files."""
    explicit = os.environ.get(STATE_DIR_VARIABLE)
    if explicit:
        return Path(explicit)
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "model-rollouts" / "testbed"


@dataclass
class SavedTestbed:
    """Everything needed to use or stop a running test bed from another process."""

    name: str
    workdir: str
    log_dir: str
    server: str
    kubeconfig: str
    owner_pid: int
    processes: list[ProcessRecord] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)

    def save(self) -> None:
        """Write the state file atomically (a reader never sees half a file)."""
        path = Path(self.workdir) / STATE_FILE
        data: dict[str, Any] = {
            "name": self.name,
            "workdir": self.workdir,
            "log_dir": self.log_dir,
            "server": self.server,
            "kubeconfig": self.kubeconfig,
            "owner_pid": self.owner_pid,
            "processes": [record.as_json() for record in self.processes],
            "nodes": self.nodes,
        }
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(path)

    @classmethod
    def load(cls, workdir: Path) -> SavedTestbed | None:
        """The state in ``workdir``, or None if there is none (or it is unreadable)."""
        try:
            data = json.loads((workdir / STATE_FILE).read_text())
        except (OSError, ValueError):
            return None
        return cls(
            name=str(data["name"]),
            workdir=str(data["workdir"]),
            log_dir=str(data["log_dir"]),
            server=str(data["server"]),
            kubeconfig=str(data["kubeconfig"]),
            owner_pid=int(data["owner_pid"]),
            processes=[ProcessRecord.from_json(item) for item in data["processes"]],
            nodes=[str(node) for node in data["nodes"]],
        )

    def running(self) -> list[ProcessRecord]:
        """The recorded processes that are still alive."""
        return [record for record in self.processes if record.is_running()]


def all_states(root: Path | None = None) -> list[SavedTestbed]:
    """The state of every test bed under the state root, by name."""
    root = root or state_root()
    if not root.is_dir():
        return []
    states = [SavedTestbed.load(child) for child in sorted(root.iterdir()) if child.is_dir()]
    return [state for state in states if state is not None]
