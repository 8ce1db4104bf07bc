"""The words of alerting that its configuration is written in: severities, comparison
operators, and the template syntax of labels and annotations.

Templates are a small subset of Prometheus' Go templates: ``{{ $labels.NAME }}``,
``{{ $value }}`` and ``{{ $threshold }}``, each optionally piped through ``humanize`` or
``humanizePercentage`` (``{{ $value | humanize }}``). Anything else between ``{{`` and ``}}``
is refused when the configuration is loaded (:func:`check`); rendering them is
:mod:`hostvitals.collector.alerts.templates`' part.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Final, Literal


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        """0 for critical (most urgent) up to 3 for low."""
        return _RANKS[self]


_RANKS: Final = {Severity.CRITICAL: 0, Severity.HIGH: 1, Severity.MEDIUM: 2, Severity.LOW: 3}

Op = Literal[">", ">=", "<", "<="]

TEMPLATE_ACTION: Final = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
"""One ``{{ ... }}`` action; group 1 is what is between the braces."""
TEMPLATE_EXPR: Final = re.compile(
    r"^\s*\$(labels\.[a-zA-Z_][a-zA-Z0-9_]*|value|threshold)\s*"
    r"(?:\|\s*(humanize|humanizePercentage)\s*)?$"
)
"""A supported action: group 1 the variable (``labels.NAME``, ``value``, ``threshold``),
group 2 the function it is piped through, if any."""


class TemplateError(ValueError):
    """A template uses something outside the supported subset."""


def check(text: str) -> None:
    """Raise TemplateError when ``text`` has an unsupported ``{{ ... }}`` action."""
    for match in TEMPLATE_ACTION.finditer(text):
        if not TEMPLATE_EXPR.match(match.group(1)):
            raise TemplateError(
                f"unsupported template {match.group(0)!r}: use {{{{ $labels.NAME }}}}, "
                "{{ $value }} or {{ $threshold }}, optionally '| humanize' or "
                "'| humanizePercentage'"
            )
    rest = TEMPLATE_ACTION.sub("", text)
    if "{{" in rest or "}}" in rest:
        raise TemplateError(f"unbalanced '{{{{' or '}}}}' in {text!r}")
