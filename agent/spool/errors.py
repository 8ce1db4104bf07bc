"""Errors of the spool itself; bad arguments raise ValueError or TypeError instead."""

from __future__ import annotations

import errno


class SpoolError(Exception):
    """Base class of the spool's own errors (bad arguments raise ValueError or TypeError)."""


class SpoolLockedError(SpoolError):
    """Another open spool (in this or another process) owns the directory."""


class SpoolClosedError(SpoolError):
    """The spool was used after close()."""


DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO})
"""Write errors that mean "the disk cannot take this now" (full, over quota, failing): the
agent keeps running through them and writes again later."""


def is_disk_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a write error the agent rides out (``DISK_ERRNOS``)."""
    return isinstance(exc, OSError) and exc.errno in DISK_ERRNOS
