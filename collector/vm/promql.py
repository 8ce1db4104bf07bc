"""PromQL (MetricsQL) text built from values: string literals and series selectors.

Pure string helpers shared by the history queries, the rollup job, the cold path and the
alert rules; every label value that goes into an expression is quoted here.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from hostvitals.shared.catalogue import HOST_LABEL

_ESCAPES: Mapping[str, str] = MappingProxyType(
    {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
)


def quote(value: str) -> str:
    """A PromQL double-quoted string literal for ``value``."""
    return '"' + "".join(_ESCAPES.get(ch, ch) for ch in value) + '"'


def selector(metric: str, host: str | None, **matchers: str) -> str:
    """``metric{host="...",k="v"}``; without ``host`` it matches every host."""
    pairs = ([(HOST_LABEL, host)] if host is not None else []) + sorted(matchers.items())
    if not pairs:
        return metric
    return metric + "{" + ",".join(f"{k}={quote(v)}" for k, v in pairs) + "}"
