"""Errors raised while decoding a frame.

The tree is small on purpose; the collector maps each class to one HTTP status::

    ProtocolError              base class, never raised directly
    ├── DecodeError            the body is not a msgpack document        -> 400
    │   └── TooLargeError      it is, but past the decoder's size limits -> 413
    ├── VersionError           the protocol version is not supported     -> 400
    └── SchemaError            the document does not have a frame's shape -> 422
"""

from __future__ import annotations


class ProtocolError(ValueError):
    """Base class of every error the wire protocol raises."""


class DecodeError(ProtocolError):
    """The bytes are not a well-formed msgpack document."""


class TooLargeError(DecodeError):
    """The document is larger than the decoder's limits allow (an array, map or string too
    long, or too many items in all); decoding stopped before building it."""


class VersionError(ProtocolError):
    """The frame declares a protocol version this side does not speak."""

    def __init__(self, version: object, supported: tuple[int, ...]) -> None:
        self.version = version
        self.supported = supported
        names = ", ".join(str(v) for v in supported)
        super().__init__(f"unsupported protocol version {version!r}; supported: {names}")


class SchemaError(ProtocolError):
    """The document decodes but is not a valid frame.

    ``path`` points at the offending field, for example ``series[3].values[2]``.
    """

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path else problem)
