"""Errors of the spool itself; bad arguments raise ValueError or TypeError instead."""

from __future__ import annotations


class SpoolError(Exception):
    """Base class of the spool's own errors (bad arguments raise ValueError or TypeError)."""


class SpoolLockedError(SpoolError):
    """Another open spool (in this or another process) owns the directory."""


class SpoolClosedError(SpoolError):
    """The spool was used after close()."""
