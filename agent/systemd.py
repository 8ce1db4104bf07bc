"""systemd's notification protocol (``sd_notify``), without libsystemd.

With ``Type=notify`` systemd passes ``NOTIFY_SOCKET``, a unix datagram socket (a path, or an
abstract name written with a leading ``@``), and reads newline-separated ``KEY=VALUE``
assignments from it: ``READY=1`` once the service is up, ``RELOADING=1`` and ``READY=1``
around a reload, ``STOPPING=1`` when it begins to stop, ``STATUS=...`` for humans and
``WATCHDOG=1`` as the keep-alive ping. With ``WatchdogSec=`` it also passes ``WATCHDOG_USEC``
(and ``WATCHDOG_PID``): a service that does not ping within that time is killed and, with
``Restart=``, restarted.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Notifier:
    """Sends notifications to the socket systemd gave us; every call is best effort."""

    def __init__(self, address: str, watchdog_s: float | None = None) -> None:
        if not address or address[0] not in "/@":
            raise ValueError(f"NOTIFY_SOCKET must be a path or an @abstract name, got {address!r}")
        self._address = "\0" + address[1:] if address.startswith("@") else address
        self.watchdog_s = watchdog_s
        """How often systemd expects WATCHDOG=1, or None when the watchdog is off."""
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self._failed_at = -1e9

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Notifier | None:
        """A notifier for this process, or None when not started by systemd with Type=notify."""
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        if not address:
            return None
        watchdog_s: float | None = None
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            watchdog_s = int(usec) / 1e6
        try:
            return cls(address, watchdog_s)
        except ValueError as exc:
            log.warning("ignoring systemd notifications: %s", exc)
            return None

    def notify(self, *assignments: str) -> bool:
        """Send ``KEY=VALUE`` lines in one datagram; False if it could not be sent."""
        message = "\n".join(assignments).encode("utf-8", "replace")
        try:
            self._socket.sendto(message, self._address)
        except OSError as exc:
            now = time.monotonic()
            if now - self._failed_at > 60:
                log.warning("cannot notify systemd at %s: %s", self._address.lstrip("\0"), exc)
                self._failed_at = now
            return False
        return True

    def close(self) -> None:
        self._socket.close()
