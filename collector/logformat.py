"""The collector's log line formats: readable text, or one JSON object per line.

Masking (:mod:`hostvitals.shared.masking`) happens when a record is made, before either
formatter sees it, so both print the masked message.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Final, Literal

import orjson

from hostvitals.collector.tracing import current_trace_id

TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message"[, "trace_id"][, "exception"]}``, one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if (trace_id := current_trace_id()) is not None:
            line["trace_id"] = trace_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line).decode()


def formatter(kind: Literal["text", "json"]) -> logging.Formatter:
    return JsonFormatter() if kind == "json" else logging.Formatter(TEXT_FORMAT)


def configure(level: str, kind: Literal["text", "json"]) -> None:
    """The root logger's level and one stderr handler in the chosen format."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(kind))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)


def uvicorn_log_config(kind: Literal["text", "json"]) -> dict[str, Any] | None:
    """uvicorn's ``log_config``: None keeps its own text handlers; for JSON its loggers pass
    their records to the root logger's JSON handler instead."""
    if kind != "json":
        return None
    passed_on: dict[str, Any] = {"handlers": [], "propagate": True}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "loggers": {name: passed_on for name in ("uvicorn", "uvicorn.error", "uvicorn.access")},
    }
