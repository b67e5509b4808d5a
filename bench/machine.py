"""What a benchmark's results file says about where and on what code it ran.

Every table in ``bench/results/`` names the machine (CPUs, their model, memory) and the commit,
marked when the code under test had uncommitted changes, so a number can be traced to the code
and the hardware that produced it.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (the machine otherwise)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> float:
    """Total memory in GiB, from /proc/meminfo (0 where it cannot be read)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return 0.0


def revision() -> str:
    """The commit of this checkout, marked when rollouts/ or analysis/ have uncommitted changes."""

    def git(*arguments: str) -> str:
        return subprocess.run(
            ["git", "--no-optional-locks", "-C", str(REPO), *arguments],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        changed = git("status", "--porcelain", "--", "rollouts", "analysis")
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    return f"{commit} with uncommitted changes in rollouts/ or analysis/" if changed else commit


def write_results(out: Path, lines: list[str], began: float) -> None:
    """Write a results file: the table's ``lines``, then the wall time since ``began`` (monotonic)."""
    out.write_text("\n".join([*lines, "", f"Total time: {time.monotonic() - began:.0f} s."]) + "\n")


def run_arguments(description: str, runs: int, results: Path) -> argparse.Namespace:
    """``--runs`` (seeded runs per cell) and ``--out`` (the results file) of a simulation bench."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--runs", type=int, default=runs, help=f"seeded runs per cell (default {runs:,})")
    parser.add_argument("--out", type=Path, default=results, help=f"results file (default {results})")
    return parser.parse_args()
