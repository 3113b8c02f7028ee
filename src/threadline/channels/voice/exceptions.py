"""What the voice channel raises at its boundary with the provider."""

from __future__ import annotations


class CallFailed(Exception):
    """The provider did not place (or redirect) the call. `retryable`: it surely did not take
    the request and a later attempt may work (outage, rate limit); otherwise it never will
    (bad number, bad credentials, a call that already ended)."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


class CallOutcomeUnknown(CallFailed):
    """The request may have reached the provider (its answer was lost): placing the call again
    could ring the customer twice, so it is not retried blindly."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)
