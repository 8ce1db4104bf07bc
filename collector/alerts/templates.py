"""Rendering label and annotation templates, a small subset of Prometheus' Go templates.

The syntax and its check at load time are in :mod:`hostvitals.collector.config.vocabulary`.
The same text is valid in Prometheus and vmalert rule files, where ``$threshold`` is replaced
by the number.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from typing import Final

from hostvitals.collector.alerts.model import format_number
from hostvitals.collector.config.vocabulary import TEMPLATE_ACTION, TEMPLATE_EXPR

_SI: Final = (
    (1e24, "Y"),
    (1e21, "Z"),
    (1e18, "E"),
    (1e15, "P"),
    (1e12, "T"),
    (1e9, "G"),
    (1e6, "M"),
    (1e3, "k"),
)


Part = str | tuple[str, str | None]
"""A piece of a parsed template: literal text, or an action's name and pipe."""


@functools.lru_cache(maxsize=1024)
def parse(text: str) -> tuple[Part, ...]:
    """``text`` as literal pieces and actions, parsed once per distinct text: a fleet's
    alerts render the same few templates thousands of times per evaluation. An action the
    syntax does not allow (refused at load time) stays literal text."""
    parts: list[Part] = []
    at = 0
    for match in TEMPLATE_ACTION.finditer(text):
        if match.start() > at:
            parts.append(text[at : match.start()])
        parsed = TEMPLATE_EXPR.match(match.group(1))
        parts.append(match.group(0) if parsed is None else (parsed.group(1), parsed.group(2)))
        at = match.end()
    if at < len(text):
        parts.append(text[at:])
    return tuple(parts)


def render(
    text: str, labels: Mapping[str, str], value: float, threshold: float | None = None
) -> str:
    parts = parse(text)
    if len(parts) == 1 and isinstance(parts[0], str):
        return parts[0]
    return "".join(
        part if isinstance(part, str) else _action(*part, labels, value, threshold)
        for part in parts
    )


def _action(
    name: str, pipe: str | None, labels: Mapping[str, str], value: float, threshold: float | None
) -> str:
    if name.startswith("labels."):
        return labels.get(name[len("labels.") :], "")
    number = value if name == "value" else threshold
    if number is None:
        return ""
    if pipe == "humanize":
        return humanize(number)
    if pipe == "humanizePercentage":
        return humanize(number * 100) + "%"
    return format_value(number)


def for_export(text: str, threshold: float | None) -> str:
    """The template for a Prometheus rule file: ``$threshold`` becomes the number."""

    def replace(match: re.Match[str]) -> str:
        parsed = TEMPLATE_EXPR.match(match.group(1))
        if parsed is None or parsed.group(1) != "threshold":
            return match.group(0)
        if threshold is None:
            return ""
        if parsed.group(2) == "humanizePercentage":
            return humanize(threshold * 100) + "%"
        return format_number(threshold)

    return TEMPLATE_ACTION.sub(replace, text)


def format_value(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        return str(value)
    return f"{value:.4g}"


def humanize(value: float) -> str:
    """Like Prometheus' ``humanize``: 1234567 -> ``1.235M``."""
    if value == 0 or math.isnan(value) or math.isinf(value):
        return f"{value:.4g}"
    for scale, prefix in _SI:
        if abs(value) >= scale:
            return f"{value / scale:.4g}{prefix}"
    for scale, prefix in ((1e-3, "m"), (1e-6, "u"), (1e-9, "n")):
        if abs(value) < 1 and abs(value) >= scale:
            return f"{value / scale:.4g}{prefix}"
    return f"{value:.4g}"
