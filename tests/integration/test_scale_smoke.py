"""The fleet benchmark's smallest setting runs and writes a complete row (bench/scale.py --smoke).

No timing is asserted: the smoke run only proves the bench still drives the test bed, Prometheus
and the controller end to end — every column measured, the failover phase included (a SIGKILLed
leader's warm standby takes over, then a SIGTERMed one hands over), the controllers free of
errors — so the real runs (hundreds to thousands of rollouts) do not break unnoticed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rollouts.local import prometheus
from rollouts.testbed import Binaries
from tests.support.need import need

BENCH = Path(__file__).resolve().parents[2] / "bench" / "scale.py"


@pytest.mark.cluster
@pytest.mark.prometheus
@pytest.mark.slow
def test_scale_smoke_writes_a_complete_row(testbed_binaries: Binaries, tmp_path: Path) -> None:
    need(prometheus.available(), "prometheus and promtool", "apt-get install prometheus")
    out = tmp_path / "scale.md"
    ran = subprocess.run(
        [sys.executable, str(BENCH), "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    rows = [line for line in out.read_text().splitlines() if line.startswith("| 20")]
    assert len(rows) == 1, out.read_text()
    cells = [cell.strip() for cell in rows[0].strip("|").split("|")]
    header = next(line for line in out.read_text().splitlines() if line.startswith("| date"))
    columns = [cell.strip() for cell in header.strip("|").split("|")]
    row = dict(zip(columns, cells, strict=True))
    assert all(value and value != "n/a" for value in cells), row
    assert row["N (replicas + Gateway API); interval; workers"].startswith("5 ")
    assert row["at 2nd gate"] == "5"
    assert row["errors"] == "0"
    failover = [
        "failover (SIGKILL) → holder changed s",
        "failover → first status s",
        "failover → all reconciled s",
        "handover (SIGTERM) → first status s",
    ]
    for column in failover:
        assert float(row[column]) >= 0, row  # measured, a number of seconds (no timing asserted)
