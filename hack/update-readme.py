"""Rewrite the generated reference block of README.md from the API models."""

from __future__ import annotations

import sys
from pathlib import Path

from rollouts.api.reference import BEGIN_MARKER, END_MARKER, reference_markdown

README = Path(__file__).resolve().parents[1] / "README.md"


def main() -> int:
    """Replace the block between the markers; exit 0."""
    text = README.read_text()
    start = text.index(BEGIN_MARKER)
    end = text.index(END_MARKER) + len(END_MARKER) + 1
    README.write_text(text[:start] + reference_markdown() + text[end:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
