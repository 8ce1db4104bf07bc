"""Silences as rows of the state database (:mod:`hostvitals.collector.statedb`), one per
silence, so creating or expiring one writes that row and nothing else.

Silences used to be kept in the alert state file (``alerts.json``) next to the alerts; on the
first start with this table empty, :meth:`SilenceStore.migrate` takes them from there.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS silences (
    id TEXT PRIMARY KEY,
    doc BLOB NOT NULL
)
"""


class SilenceStore:
    """The ``silences`` table on ``conn`` (created when missing). Thread-safe."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        with self._lock:
            conn.execute(_SCHEMA)

    def load(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute("SELECT doc FROM silences").fetchall()
        return [orjson.loads(doc) for (doc,) in rows]

    def restore(self, from_file: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The saved silences. On the first start with no rows, ``from_file`` (the silences
        of the alert state file that used to hold them) are written into rows first."""
        if from_file and self.is_empty():
            self.put_all(from_file)
            log.info("moved %d silences from the alert state file to rows", len(from_file))
        return self.load()

    def is_empty(self) -> bool:
        with self._lock:
            return self._conn.execute("SELECT 1 FROM silences LIMIT 1").fetchone() is None

    def put(self, doc: Mapping[str, Any]) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO silences (id, doc) VALUES (?, ?)",
                (str(doc["id"]), orjson.dumps(doc)),
            )

    def put_all(self, docs: Iterable[Mapping[str, Any]]) -> None:
        rows = [(str(doc["id"]), orjson.dumps(doc)) for doc in docs]
        with self._lock, self._conn:
            self._conn.execute("BEGIN")
            self._conn.executemany("INSERT OR REPLACE INTO silences (id, doc) VALUES (?, ?)", rows)

    def delete(self, ids: Iterable[str]) -> None:
        rows = [(i,) for i in ids]
        if rows:
            with self._lock:
                self._conn.executemany("DELETE FROM silences WHERE id = ?", rows)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
