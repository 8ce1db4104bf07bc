"""The cluster's peer token: the one secret replicas present to each other.

Every replica reads the same ``cluster.peer_token_file`` (a Kubernetes Secret, say): it sends
the token as ``Authorization: Bearer`` on every request to a peer, and a request that presents
it is the ``peer`` role, which may call only the routes replicas ask each other for (see
:mod:`.routes`). The file is read again on SIGHUP and when it changes; the old token is
refused from then on. (Replicas that read a rotated file a few seconds apart refuse each other
for those seconds, and answer with their own view meanwhile.) The token is compared in
constant time and never logged.
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Final

from hostvitals.collector.access.roles import Principal, Role
from hostvitals.collector.config.loader import ConfigError

PEER: Final = Principal("peer", Role.PEER, id="peer", name="cluster peer")
MIN_LENGTH: Final = 16


def read_peer_token(path: Path) -> str:
    """The token in ``path``: its first line that is not blank or a ``#`` comment.

    Raises ConfigError when the file cannot be read or holds no token long enough. The
    message names the file, never its contents.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"config error: cluster.peer_token_file: cannot read {path}: {exc}"
        ) from None
    for line in text.splitlines():
        token = line.split("#", 1)[0].strip()
        if token:
            if len(token) < MIN_LENGTH:
                raise ConfigError(
                    f"config error: cluster.peer_token_file: the token in {path} is shorter "
                    f"than {MIN_LENGTH} characters"
                )
            return token
    raise ConfigError(f"config error: cluster.peer_token_file: {path} holds no token")


class PeerToken:
    """The token this replica sends to its peers and accepts from them."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._current: str | None = None
        if path is not None:
            self._current = read_peer_token(path)

    @property
    def secret(self) -> str | None:
        """What to send to a peer; None when no peer token is configured."""
        return self._current

    def reload(self) -> None:
        """Read the file again and take its token (a file that cannot be read keeps the old)."""
        if self.path is not None:
            self._current = read_peer_token(self.path)

    def knows(self, secret: str) -> bool:
        """Whether ``secret`` is the peer token."""
        held = self._current
        return held is not None and hmac.compare_digest(secret.encode(), held.encode())
