"""Alert state on disk: alerts, the notification log, silences and known hosts, as JSON.

Replaced atomically and durably (``hostvitals.shared.atomicfile``: a temporary file, fsynced,
renamed over the old one, then the directory fsynced), so a crash or a power loss leaves
either the old or the new state. A file that cannot be read is set aside as
``<name>.corrupt`` and the collector starts with empty state rather than not at all.

The document is encoded with orjson. A fleet's state runs to megabytes (10,000 alerts are
about 7 MB), and the standard library's encoder held the interpreter lock for 140-200 ms per
save, from a worker thread: every request waiting on the event loop waited that long too.
orjson takes about a tenth of that. It writes a non-finite float as ``null``, so an alert's
value that is not finite is kept as its text (``"nan"``, ``"inf"``), which ``float`` reads
back.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
from pathlib import Path
from typing import Any, Final

import orjson

from hostvitals.collector.alerts.model import Alert
from hostvitals.shared.atomicfile import replace_file

log = logging.getLogger(__name__)
VERSION: Final = 1


class StateFile:
    def __init__(self, path: Path | None) -> None:
        self.path = path

    def load(self) -> dict[str, Any]:
        if self.path is None or not self.path.exists():
            return {}
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(doc, dict) or doc.get("version") != VERSION:
                raise ValueError(f"not a version {VERSION} alert state")
        except (OSError, ValueError) as exc:
            aside = self.path.with_name(self.path.name + ".corrupt")
            log.error("alert state %s unreadable (%s); moved to %s", self.path, exc, aside)
            with contextlib.suppress(OSError):
                os.replace(self.path, aside)
            return {}
        return doc

    def save(self, doc: dict[str, Any]) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = orjson.dumps({"version": VERSION, **doc}, option=orjson.OPT_NON_STR_KEYS)
        replace_file(self.path, data)


def alert_to_json(alert: Alert) -> dict[str, Any]:
    return {
        "rule_id": alert.rule_id,
        "fingerprint": alert.fingerprint,
        "labels": alert.labels,
        "annotations": alert.annotations,
        "state": alert.state,
        "active_at": alert.active_at,
        "value": alert.value if math.isfinite(alert.value) else str(alert.value),
        "last_true_at": alert.last_true_at,
        "fired_at": alert.fired_at,
        "resolved_at": alert.resolved_at,
    }


def alert_from_json(doc: dict[str, Any]) -> Alert:
    state = doc["state"]
    if state not in ("pending", "firing", "resolved"):
        raise ValueError(f"unknown alert state {state!r}")
    return Alert(
        rule_id=str(doc["rule_id"]),
        fingerprint=str(doc["fingerprint"]),
        labels={str(k): str(v) for k, v in doc["labels"].items()},
        annotations={str(k): str(v) for k, v in doc["annotations"].items()},
        state=state,
        active_at=float(doc["active_at"]),
        value=float(doc["value"]),
        last_true_at=float(doc["last_true_at"]),
        fired_at=None if doc.get("fired_at") is None else float(doc["fired_at"]),
        resolved_at=None if doc.get("resolved_at") is None else float(doc["resolved_at"]),
    )
