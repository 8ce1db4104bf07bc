"""``hostvitals-collector users add|list|passwd|set-role|remove``: dashboard users.

They write to the collector's state database in ``state.dir``, which the running collector
reads on every login and request: a change applies at once, without a restart. A password is
read from the terminal (asked twice), or as one line from stdin when stdin is not a terminal;
``--generate`` makes a random one and prints it once on stdout. It is never stored, only its
argon2id hash. Each change, done or refused, goes to the audit log as done by
``cli:<the OS user>``.
"""

from __future__ import annotations

import argparse
import getpass
import secrets
import sys
import time
from typing import Any

from hostvitals.collector import statedb
from hostvitals.collector.access.audit import Action, Actor, AuditLog, Result, open_audit
from hostvitals.collector.access.roles import TOKEN_ROLES
from hostvitals.collector.access.users import UserError, UserStore
from hostvitals.collector.config.settings import Settings

EXIT_REFUSED = 1
ROLES = [str(r) for r in TOKEN_ROLES]


def add_users_command(commands: Any) -> None:
    users = commands.add_parser("users", help="dashboard users (`users add|list|passwd|...`)")
    actions = users.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="add a user")
    add.add_argument("name", help="the login name")
    add.add_argument("--role", required=True, choices=ROLES)
    passwd = actions.add_parser("passwd", help="set a user's password; ends its sessions")
    passwd.add_argument("name")
    for parser in (add, passwd):
        parser.add_argument(
            "--generate", action="store_true", help="make a random password and print it once"
        )
    listing = actions.add_parser("list", help="list users (never their passwords)")
    set_role = actions.add_parser("set-role", help="set a user's role")
    set_role.add_argument("name")
    set_role.add_argument("role", choices=ROLES)
    remove = actions.add_parser("remove", help="remove a user; ends its sessions")
    remove.add_argument("name")
    for parser in (add, passwd, listing, set_role, remove):
        parser.add_argument(
            "--config", metavar="PATH", default=argparse.SUPPRESS, help="YAML configuration"
        )


def _password(generate: bool) -> tuple[str, bool]:
    """(the password, whether it was generated and must be shown)."""
    if generate:
        return secrets.token_urlsafe(18), True
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise UserError("the two passwords differ")
        return first, False
    return sys.stdin.readline().rstrip("\r\n"), False


def _when(value: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(value))


def run_users_command(args: argparse.Namespace, settings: Settings) -> int:
    if settings.state.dir is None:
        print("users are kept in state.dir, which is not set: set state.dir (the same as "
              "the collector's)", file=sys.stderr)  # fmt: skip
        return EXIT_REFUSED
    conn = statedb.connect(settings.state.dir)
    audit = open_audit(settings)
    action = _ACTIONS.get(args.users_command)
    detail = _detail(args)
    try:
        code = _run(args, UserStore(conn))
        if action is not None:
            _audit(audit, action, args.name, Result.OK, detail)
        return code
    except UserError as exc:
        if action is not None:
            _audit(audit, action, args.name, Result.FAILED, {**detail, "error": str(exc)})
        print(str(exc), file=sys.stderr)
        return EXIT_REFUSED
    finally:
        conn.close()
        audit.close()


_ACTIONS = {
    "add": Action.USER_ADD,
    "passwd": Action.USER_CHANGE,
    "set-role": Action.USER_CHANGE,
    "remove": Action.USER_REMOVE,
}


def _detail(args: argparse.Namespace) -> dict[str, Any]:
    """What a command changes, for the audit log (never the password)."""
    action = args.users_command
    if action == "add":
        return {"role": args.role}
    if action == "passwd":
        return {"changed": "password"}
    if action == "set-role":
        return {"changed": "role", "role": args.role}
    return {}


def _audit(log: AuditLog, action: Action, name: str, result: Result, detail: Any) -> None:
    log.record(
        action, principal=Actor.cli(), target=name, result=result, source="cli",
        request_id=None, detail=detail,
    )  # fmt: skip


def _run(args: argparse.Namespace, store: UserStore) -> int:
    action = args.users_command
    if action in ("add", "passwd"):
        password, show = _password(args.generate)
        if action == "add":
            record = store.add(args.name, args.role, password)
            print(f"added user {record.name!r} ({record.role})", file=sys.stderr)
        else:
            record = store.set_password(args.name, password)
            print(f"new password for {record.name!r}; its sessions have ended", file=sys.stderr)
        if show:
            print("its password, shown only now:", file=sys.stderr)
            print(password)
    elif action == "list":
        rows = [["NAME", "ROLE", "CREATED", "PASSWORD CHANGED"]]
        rows += [
            [u.name, str(u.role), _when(u.created_at), _when(u.password_changed_at)]
            for u in store.users()
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    elif action == "set-role":
        record = store.set_role(args.name, args.role)
        print(f"user {record.name!r} is now {record.role}", file=sys.stderr)
    else:
        store.remove(args.name)
        print(f"removed user {args.name!r}; its sessions have ended", file=sys.stderr)
    return 0
