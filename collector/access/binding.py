"""What an agent credential may write: frames of its own host and agent id only.

The ingest pipeline calls the check right after decoding a frame, before the ledger, the
live view or any write sees it, so a frame refused here leaves no trace (and cannot make the
real agent's frames of the same sequence numbers look like duplicates).
"""

from __future__ import annotations

from collections.abc import Callable

from hostvitals.collector.access.roles import Principal
from hostvitals.collector.access.store import AccessStore
from hostvitals.collector.errors import IngestRejected
from hostvitals.collector.ingest.pipeline import FrameCheck


def _shown(value: str) -> str:
    return repr(value if len(value) <= 80 else value[:80] + "...")


def frame_check(
    principal: Principal | None,
    store: AccessStore,
    on_refused: Callable[[str, str, str], None] | None = None,
) -> FrameCheck | None:
    """The check for frames sent with ``principal``'s credential; None when nothing binds it
    (the open mode, a legacy token). ``on_refused(reason, agent_id, host)`` is called before
    a frame is refused."""
    if principal is not None and principal.kind == "certificate":
        return _certificate_check(principal.names, on_refused)
    if principal is None or principal.kind != "agent" or principal.host is None:
        return None
    ref, bound_host = principal.id, principal.host

    def check(agent_id: str, host: str) -> None:
        if host != bound_host:
            if on_refused is not None:
                on_refused("host_mismatch", agent_id, host)
            raise IngestRejected(
                403,
                "host_mismatch",
                f"this agent credential is for host {_shown(bound_host)}, not the frame's host "
                f"{_shown(host)}: nothing of the frame was written",
                error_type="forbidden",
            )
        bound = principal.agent_id or store.pinned_agent_id(ref)
        if bound is None and store.pin(ref, agent_id):
            return  # the credential's first frame: its agent id is now pinned
        bound = bound or store.pinned_agent_id(ref)
        if agent_id != bound:
            if on_refused is not None:
                on_refused("agent_mismatch", agent_id, host)
            raise IngestRejected(
                403,
                "agent_mismatch",
                f"this agent credential is pinned to agent id {_shown(bound or '')}, not the "
                f"frame's {_shown(agent_id)}: nothing of the frame was written (a reinstalled "
                "agent needs `hostvitals-collector agents unpin`)",
                error_type="forbidden",
            )

    return check


def _certificate_check(
    names: tuple[str, ...], on_refused: Callable[[str, str, str], None] | None
) -> FrameCheck:
    """A client certificate binds the host (its CN or a DNS name), not an agent id."""

    def check(agent_id: str, host: str) -> None:
        if host not in names:
            if on_refused is not None:
                on_refused("host_mismatch", agent_id, host)
            shown = ", ".join(_shown(n) for n in names) or "no name"
            raise IngestRejected(
                403,
                "host_mismatch",
                f"the client certificate is for {shown}, not the frame's host {_shown(host)}: "
                "nothing of the frame was written",
                error_type="forbidden",
            )

    return check
