"""Verification's domain errors."""

from __future__ import annotations

from threadline.errors import NotAllowed


class ContinuationLocked(NotAllowed):
    """Too many wrong codes from this caller (or this organisation) lately: stop asking for
    a code and identify the caller the ordinary way. `retry_after_s` says when codes from
    this caller are accepted again."""

    code = "too_many_attempts"

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(
            "too many wrong codes; try again later", retry_after_s=round(retry_after_s)
        )
        self.retry_after_s = retry_after_s
