"""The hostvitals wire protocol and metric catalogue, shared by agent and collector.

Pure: no I/O, no global state; the one exception is ``atomicfile``, the small file-replacing
helper both sides use.
"""

from hostvitals.shared.catalogue import CATALOGUE, HOST_LABEL, Kind, MetricSpec
from hostvitals.shared.codec import decode_frame, encode_frame
from hostvitals.shared.errors import DecodeError, ProtocolError, SchemaError, VersionError
from hostvitals.shared.protocol import CONTENT_TYPE, SUPPORTED_VERSIONS, VERSION, Frame, Series

__all__ = [
    "CATALOGUE",
    "CONTENT_TYPE",
    "HOST_LABEL",
    "SUPPORTED_VERSIONS",
    "VERSION",
    "DecodeError",
    "Frame",
    "Kind",
    "MetricSpec",
    "ProtocolError",
    "SchemaError",
    "Series",
    "VersionError",
    "decode_frame",
    "encode_frame",
]
