"""What changed between two versions of an article's translation: a unified diff. Pure."""

from __future__ import annotations

import difflib


def unified(old: str, new: str, old_label: str, new_label: str, context: int = 3) -> str:
    """The unified diff of two texts, line by line ("" when they are the same)."""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=old_label,
        tofile=new_label,
        n=context,
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
