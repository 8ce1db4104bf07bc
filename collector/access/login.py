"""Logins: a user name and password checked against the user store, behind the guessing
throttle, and a session opened when they are right.

A login is refused with 429 before its password is checked when its source address or its
user name has failed too often (:mod:`.throttle`); a failure counts against both, a success
clears the user name's count. Every outcome is counted; the password never leaves here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from prometheus_client import CollectorRegistry, Counter

from hostvitals.collector.access.throttle import Throttle, key
from hostvitals.collector.access.users import UserRecord, UserStore

RESULTS: Final = ("ok", "failed", "throttled", "malformed", "cross_origin")


class Throttled(Exception):
    def __init__(self, retry_after_s: int, scope: str) -> None:
        super().__init__(f"too many failed logins; retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s
        self.scope = scope  # "address" or "user": which was throttled


@dataclass(frozen=True, slots=True)
class LoggedIn:
    user: UserRecord
    session: str  # the session's secret: the cookie's value


class Logins:
    def __init__(
        self, users: UserStore, throttle: Throttle, registry: CollectorRegistry | None = None
    ) -> None:
        self.users = users
        self.throttle = throttle
        self.counted = Counter(
            "hostvitals_collector_logins",
            "Dashboard logins by result: ok, failed (unknown user or wrong password), "
            "throttled (answered 429 unchecked), malformed (no user name or password), "
            "cross_origin (posted from another site's page).",
            ("result",),
            registry=registry,
        )
        for result in RESULTS:
            self.counted.labels(result)

    def refused(self, result: str) -> None:
        """Count a login refused before its password was looked at."""
        self.counted.labels(result).inc()

    def attempt(self, address: str, name: str, password: str) -> LoggedIn | None:
        """A session when the password is right; None when not. Raises Throttled.

        Blocking (an argon2 check): call it from a worker thread.
        """
        by_address, by_user = key("address", address), key("user", name)
        for scope, which in (("address", by_address), ("user", by_user)):
            wait = self.throttle.refuse(which)
            if wait is not None:
                self.counted.labels("throttled").inc()
                raise Throttled(wait, scope)
        user = self.users.check_login(name, password)
        if user is None:
            self.throttle.failed(by_address)
            self.throttle.failed(by_user)
            self.counted.labels("failed").inc()
            return None
        self.throttle.succeeded(by_user)
        self.counted.labels("ok").inc()
        return LoggedIn(user, self.users.open_session(user))
