"""The routers' handle on the watch registry: a request that shows hosts live says so.

Which requests count (see ``hostvitals.collector.live.watch``): ``current`` and
``processes`` of one host, ``/api/v1/fleet`` (every host, or the one its ``host`` asks for)
and each event of the live stream. Peers reach each other's registries through the same
endpoints: the fan-out asks a peer for exactly what the dashboard shows (``scope=local``).
``/api/v1/hosts`` and ``current`` of every host do not count: scripts and the alert engine
poll them.
"""

from __future__ import annotations

from fastapi import Request

from hostvitals.collector.live.watch import WatchRegistry


def watching(request: Request) -> WatchRegistry:
    registry: WatchRegistry = request.app.state.watch
    return registry
