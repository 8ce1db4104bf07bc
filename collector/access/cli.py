"""``hostvitals-collector tokens ...``, ``agents ...`` and ``enrollment ...``: manage API
tokens, agents and enrollment tokens.

They write to the collector's state database in ``state.dir`` (the same file the running
collector reads; it sees a change within a second). A new secret is printed once, on its
own line on stdout, and never stored: only its hash is. Every change, and every refused
one, goes to the audit log as done by ``cli:<the OS user>``.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from typing import Any

from hostvitals.collector import statedb
from hostvitals.collector.access.audit import Action, Actor, AuditLog, Result, open_audit
from hostvitals.collector.access.enrollment import EnrollmentStore
from hostvitals.collector.access.roles import TOKEN_ROLES
from hostvitals.collector.access.store import AccessError, AccessStore
from hostvitals.collector.config.settings import Settings

EXIT_REFUSED = 1
COMMANDS = ("tokens", "agents", "enrollment")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> float:
    """Seconds in ``90``, ``30m``, ``12h`` or ``7d``."""
    number, unit = (text[:-1], text[-1]) if text[-1:] in _UNITS else (text, "s")
    try:
        value = float(number) * _UNITS[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a duration (like 90, 30m, 12h, 7d): {text!r}"
        ) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"a duration must be positive: {text!r}")
    return value


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", metavar="PATH", default=argparse.SUPPRESS, help="YAML configuration"
    )


def add_access_commands(commands: Any) -> None:
    """Add ``tokens`` and ``agents`` to the collector's subcommands."""
    tokens = commands.add_parser("tokens", help="API tokens (`tokens add|list|revoke`)")
    actions = tokens.add_subparsers(dest="tokens_command", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="create an API token and print its secret once")
    add.add_argument("--name", required=True, help="who or what uses it (e.g. grafana)")
    add.add_argument("--role", required=True, choices=[str(r) for r in TOKEN_ROLES])
    listing = actions.add_parser("list", help="list API tokens (never their secrets)")
    revoke = actions.add_parser("revoke", help="revoke an API token")
    revoke.add_argument("id", help="the token's id (from `tokens list`)")
    for parser in (add, listing, revoke):
        _config_option(parser)

    agents = commands.add_parser("agents", help="agents (`agents add|list|rotate|unpin|revoke`)")
    actions = agents.add_subparsers(dest="agents_command", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="register an agent and print its secret once")
    add.add_argument(
        "--host",
        dest="agent_host",
        required=True,
        help="the host name the agent's frames carry",
    )
    add.add_argument(
        "--agent-id", default=None, help="the agent's id (default: its first frame pins it)"
    )
    listing = actions.add_parser("list", help="list agents (never their secrets)")
    rotate = actions.add_parser(
        "rotate", help="print a new secret; the old one stays valid for auth.rotation_grace_s"
    )
    unpin = actions.add_parser("unpin", help="let the agent's next frame pin its agent id again")
    revoke = actions.add_parser("revoke", help="revoke an agent's credential")
    for parser in (rotate, unpin, revoke):
        parser.add_argument("id", help="the agent's registration id (from `agents list`)")
    for parser in (add, listing, rotate, unpin, revoke):
        _config_option(parser)

    enrollment = commands.add_parser(
        "enrollment", help="enrollment tokens (`enrollment create|list|revoke`)"
    )
    actions = enrollment.add_subparsers(dest="enrollment_command", metavar="ACTION", required=True)
    create = actions.add_parser(
        "create", help="create an enrollment token (registers new agents) and print it once"
    )
    create.add_argument("--name", required=True, help="what it is for (e.g. ansible)")
    create.add_argument(
        "--expires-in",
        type=duration,
        default=None,
        metavar="DURATION",
        help="it stops working after this long (90, 30m, 12h, 7d; default: never)",
    )
    listing = actions.add_parser("list", help="list enrollment tokens (never their secrets)")
    revoke = actions.add_parser("revoke", help="revoke an enrollment token")
    revoke.add_argument("id", help="the token's id (from `enrollment list`)")
    for parser in (create, listing, revoke):
        _config_option(parser)


def _when(value: float | None) -> str:
    if value is None:
        return "-"
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(value))


def _table(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def run_access_command(args: argparse.Namespace, settings: Settings) -> int:
    state_dir = settings.state.dir
    if state_dir is None:
        print(
            "tokens and agents are kept in state.dir, which is not set: set state.dir (the "
            "same as the collector's)",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    conn = statedb.connect(state_dir)
    audit = open_audit(settings)
    try:
        return _run(args, settings, conn, audit)
    finally:
        audit.close()
        # Run as root next to the service: what this made (the audit log) stays writable.
        statedb.give_to_directory_owner(state_dir)


def _run(
    args: argparse.Namespace, settings: Settings, conn: sqlite3.Connection, audit: AuditLog
) -> int:
    action = _ACTIONS.get((args.command, getattr(args, f"{args.command}_command")))
    try:
        store = AccessStore(conn)
        if args.command == "tokens":
            target = _tokens(args, store)
        elif args.command == "enrollment":
            target = _enrollment(args, EnrollmentStore(conn, store))
        else:
            target = _agents(args, store, settings.auth.rotation_grace_s)
    except AccessError as exc:
        if action is not None:
            _audit(audit, action, getattr(args, "id", ""), Result.FAILED, {"error": str(exc)})
        print(str(exc), file=sys.stderr)
        return EXIT_REFUSED
    finally:
        conn.close()
    if action is not None and target is not None:
        _audit(audit, action, target[0], Result.OK, target[1])
    return 0


_ACTIONS = {
    ("tokens", "add"): Action.TOKEN_ADD,
    ("tokens", "revoke"): Action.TOKEN_REVOKE,
    ("agents", "add"): Action.AGENT_ADD,
    ("agents", "rotate"): Action.AGENT_ROTATE,
    ("agents", "unpin"): Action.AGENT_UNPIN,
    ("agents", "revoke"): Action.AGENT_REVOKE,
    ("enrollment", "create"): Action.ENROLLMENT_CREATE,
    ("enrollment", "revoke"): Action.ENROLLMENT_REVOKE,
}

Done = tuple[str, dict[str, Any]] | None
"""What a command changed, for the audit log: the record's id and its public fields."""


def _audit(log: AuditLog, action: Action, target: str, result: Result, detail: Any) -> None:
    log.record(
        action, principal=Actor.cli(), target=target, result=result, source="cli",
        request_id=None, detail=detail,
    )  # fmt: skip


def _tokens(args: argparse.Namespace, store: AccessStore) -> Done:
    action = args.tokens_command
    if action == "add":
        record, secret = store.add_token(args.name, args.role)
        print(f"created API token {record.id} ({record.role}, {record.name!r}); its secret, "
              "shown only now:", file=sys.stderr)  # fmt: skip
        print(secret)
        return record.id, record.public()
    if action == "list":
        rows = [["ID", "ROLE", "NAME", "CREATED", "LAST USED"]]
        rows += [
            [t.id, str(t.role), t.name, _when(t.created_at), _when(t.last_used_at)]
            for t in store.tokens()
        ]
        _table(rows)
        return None
    store.revoke_token(args.id)
    print(f"revoked API token {args.id}", file=sys.stderr)
    return args.id, {}


def _agents(args: argparse.Namespace, store: AccessStore, grace_s: float) -> Done:
    action = args.agents_command
    if action == "add":
        record, secret = store.add_agent(args.agent_host, args.agent_id)
        print(f"registered agent {record.id} for host {record.host!r}; set its secret as the "
              "agent's token (shown only now):", file=sys.stderr)  # fmt: skip
        print(secret)
        return record.id, record.public()
    if action == "list":
        rows = [["ID", "HOST", "AGENT ID", "CREATED", "ROTATED", "OLD SECRET UNTIL", "LAST USED"]]
        rows += [
            [a.id, a.host, a.agent_id or "(pinned by its first frame)", _when(a.created_at),
             _when(a.rotated_at), _when(a.previous_until), _when(a.last_used_at)]
            for a in store.agents()
        ]  # fmt: skip
        _table(rows)
        return None
    if action == "rotate":
        record, secret = store.rotate_agent(args.id, grace_s)
        print(f"new secret for agent {record.id} (host {record.host!r}); the previous one is "
              f"valid until {_when(record.previous_until)} (shown only now):",
              file=sys.stderr)  # fmt: skip
        print(secret)
        return record.id, record.public()
    if action == "unpin":
        record = store.unpin(args.id)
        print(f"agent {record.id}: its next frame pins its agent id", file=sys.stderr)
        return record.id, record.public()
    store.revoke_agent(args.id)
    print(f"revoked agent {args.id}", file=sys.stderr)
    return args.id, {}


def _enrollment(args: argparse.Namespace, store: EnrollmentStore) -> Done:
    action = args.enrollment_command
    if action == "create":
        record, secret = store.create(args.name, args.expires_in)
        until = f"until {_when(record.expires_at)}" if record.expires_at else "until revoked"
        print(f"created enrollment token {record.id} ({record.name!r}, valid {until}); give "
              "it to `hostvitals-agent enroll --token` (shown only now):",
              file=sys.stderr)  # fmt: skip
        print(secret)
        return record.id, record.public()
    if action == "list":
        rows = [["ID", "NAME", "CREATED", "EXPIRES", "USES", "LAST USED"]]
        rows += [
            [t.id, t.name, _when(t.created_at), _when(t.expires_at), str(t.uses),
             _when(t.last_used_at)]
            for t in store.tokens()
        ]  # fmt: skip
        _table(rows)
        return None
    store.revoke(args.id)
    print(f"revoked enrollment token {args.id}", file=sys.stderr)
    return args.id, {}
