"""The documentation that is generated from the models must be current."""

from __future__ import annotations

from pathlib import Path

from rollouts.api.crd import render_crd_yaml
from rollouts.api.reference import BEGIN_MARKER, END_MARKER, field_docs, reference_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_readme_reference_is_current() -> None:
    text = (ROOT / "README.md").read_text()
    start = text.index(BEGIN_MARKER)
    end = text.index(END_MARKER) + len(END_MARKER) + 1
    assert text[start:end] == reference_markdown(), (
        "README reference is stale: run python hack/update-readme.py"
    )


def test_every_spec_field_is_documented() -> None:
    rows = field_docs()
    assert len(rows) > 60
    undocumented = [row.path for row in rows if not row.description]
    assert undocumented == []


def test_committed_crd_is_current() -> None:
    assert (ROOT / "crds" / "modelrollout.yaml").read_text() == render_crd_yaml(), "run make crds"
