"""What can go wrong talking to VictoriaMetrics: one error tree for writes, reads and checks.

::

    BackendError              VictoriaMetrics did not take the request or give a usable answer
    ├── BackendUnavailable    no answer (refused, reset, timed out), or a 5xx or 429 answer:
    │   │                     the same request can succeed later
    │   ├── QueueFull         the writer's queue holds its maximum of bytes
    │   └── WriterClosed      the writer is shutting down
    ├── BackendRejected       any other error status (4xx): the same request cannot succeed
    └── BackendMalformed      an answer that cannot be parsed or lacks what was asked for,
                              or that broke off before its end

    AnswerRefused             not a BackendError: VictoriaMetrics answered, but with more
                              series or bytes than the asker allowed (the query asked too much)

Every error carries ``message`` (the text users see), ``url`` (the VictoriaMetrics it is
about, when known) and ``status`` (the HTTP status VictoriaMetrics answered; None when it did
not answer). :func:`error_for_status` is the one status-code policy; :func:`excerpt` keeps
VictoriaMetrics' own text short enough for a message.
"""

from __future__ import annotations

from typing import Literal


class BackendError(Exception):
    """VictoriaMetrics did not take the request or give a usable answer."""

    def __init__(self, message: str, *, url: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.url = url
        self.status = status


class BackendUnavailable(BackendError):
    """VictoriaMetrics did not answer, or answered that it cannot serve now (5xx, 429)."""

    @classmethod
    def no_answer(cls, url: str, reason: str) -> BackendUnavailable:
        """VictoriaMetrics at ``url`` could not be reached or did not answer in time."""
        return cls(f"VictoriaMetrics at {url} is unreachable: {reason}", url=url)


class QueueFull(BackendUnavailable):
    """The write queue holds its maximum of bytes."""


class WriterClosed(BackendUnavailable):
    """The writer is shutting down."""


class BackendRejected(BackendError):
    """VictoriaMetrics refused the request (4xx); ``message`` is its own error text."""

    status: int

    def __init__(self, message: str, *, status: int, url: str | None = None) -> None:
        super().__init__(message, url=url, status=status)


class BackendMalformed(BackendError):
    """VictoriaMetrics answered with something that is not what was asked for."""


class AnswerRefused(Exception):
    """An answer that holds more than the asker allowed, so it was not read to its end.

    ``reason`` is ``too_many_series`` (more than ``limit`` series, or label names or values:
    ``what`` says which) or ``too_large`` (more than ``limit`` bytes). ``found`` is how many
    there were when the whole answer was counted, None when the reading stopped early.
    """

    def __init__(
        self,
        reason: Literal["too_many_series", "too_large"],
        limit: int,
        *,
        what: str = "series",
        found: int | None = None,
    ) -> None:
        unit = what if reason == "too_many_series" else "bytes"
        super().__init__(f"the answer holds more than {limit} {unit}")
        self.reason = reason
        self.limit = limit
        self.what = what
        self.found = found


def retryable(status: int) -> bool:
    """Whether an error status means "not now" rather than "not this": 5xx and 429."""
    return status >= 500 or status == 429


def error_for_status(
    status: int, message: str, *, url: str | None = None
) -> BackendUnavailable | BackendRejected:
    """The error for an answer that is not the success asked for."""
    if retryable(status):
        return BackendUnavailable(message, url=url, status=status)
    return BackendRejected(message, url=url, status=status)


def excerpt(text: str, limit: int = 300) -> str:
    """``text`` on one line, cut to about ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."
