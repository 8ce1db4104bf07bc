"""``hostvitals-agent enroll``: point this host's agent at a collector in one command.

    hostvitals-agent enroll --collector https://collector:8000 --token TOKEN [--ca-file PEM]

``TOKEN`` is an enrollment token (``hve_...``, from ``hostvitals-collector enrollment
create``), exchanged once for this agent's own credential, or an agent credential
(``hva_...``, from ``hostvitals-collector agents add``), used as it is. The command

1. reads (or creates) the agent id in the state directory;
2. with an enrollment token, registers this host and agent id with the collector, unless
   the token file already holds a credential the collector accepts;
3. checks that the collector answers and accepts the credential for this host
   (``GET /api/v1/agents/self``);
4. writes the token file (mode 0600, owned by the service user) and sets ``collector_urls``,
   ``token_file`` (and ``ca_file``) in the configuration, leaving the rest of it alone;
5. starts the service (with systemd; otherwise it says how to start the agent);

and prints what it did. Run again with the same arguments, it changes nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hostvitals.agent.config import KEYS, ConfigError, load_config
from hostvitals.agent.config.model import DEFAULT_STATE_DIR
from hostvitals.agent.state import StateError, StateLockedError, StateStore, read_agent_id
from hostvitals.agent.tomledit import Value, update_file
from hostvitals.shared.atomicfile import replace_file

DEFAULT_CONFIG = Path("/etc/hostvitals/agent.toml")
DEFAULT_TOKEN_FILE = Path("/etc/hostvitals/agent.token")
SERVICE = "hostvitals-agent"
SERVICE_USER = "hostvitals"
ENROLLMENT_PREFIX = "hve_"
TIMEOUT_S = 10.0
EXIT_FAILED = 1


class EnrollError(Exception):
    """Enrollment cannot go on; the message says why and what to do."""


@dataclass
class Report:
    """What the command did, for the summary it prints."""

    done: list[str] = field(default_factory=list)
    changed: bool = False

    def did(self, what: str, *, change: bool = True) -> None:
        self.done.append(what)
        self.changed = self.changed or change


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="hostvitals-agent enroll",
        description="Configure this host's agent for a collector, check it, start it.",
    )
    parser.add_argument("--collector", required=True, metavar="URL", help="collector base URL")
    parser.add_argument(
        "--token",
        required=True,
        help="an enrollment token (hve_...) or this agent's credential (hva_...)",
    )
    parser.add_argument(
        "--ca-file", type=Path, default=None, metavar="PEM", help="CA bundle for https"
    )
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, metavar="PATH")
    parser.add_argument("--token-file", type=Path, default=DEFAULT_TOKEN_FILE, metavar="PATH")
    parser.add_argument(
        "--state-dir", type=Path, default=None, metavar="PATH", help="default: the config's"
    )
    parser.add_argument("--host", default=None, help="host name to report (default: the config's)")
    parser.add_argument("--user", default=SERVICE_USER, help="the service's user (file owner)")
    parser.add_argument("--no-start", action="store_true", help="do not start the service")
    return parser.parse_args(argv)


# -- the collector ---------------------------------------------------------------------------


def _tls(ca_file: Path | None) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=None if ca_file is None else str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise EnrollError(f"cannot use --ca-file {ca_file}: {exc}") from None


def call(
    base: str,
    method: str,
    path: str,
    secret: str,
    ca_file: Path | None,
    body: dict[str, Any] | None = None,
) -> tuple[int, dict[str, Any]]:
    """The status and JSON body of one request; EnrollError when there is no answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base.rstrip("/") + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {secret}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    context = _tls(ca_file) if base.startswith("https:") else None
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S, context=context) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise EnrollError(f"the collector at {base} does not answer: {reason}") from None
    try:
        parsed = json.loads(raw) if raw else {}
    except ValueError:
        parsed = {}
    return status, parsed if isinstance(parsed, dict) else {}


def _error(answer: dict[str, Any]) -> str:
    return str(answer.get("error") or answer.get("detail") or "no reason given")


def check_credential(base: str, secret: str, ca_file: Path | None, host: str) -> dict[str, Any]:
    """The collector's view of the credential; EnrollError when it refuses it for ``host``."""
    status, answer = call(base, "GET", "/api/v1/agents/self", secret, ca_file)
    if status != 200:
        raise EnrollError(f"the collector refuses the credential ({status}): {_error(answer)}")
    data = answer.get("data")
    if not isinstance(data, dict):
        raise EnrollError(f"{base} does not look like a hostvitals collector")
    if data.get("kind") == "anonymous":
        raise EnrollError(
            f"{base} has no credential configured yet (it answers anyone), so it cannot check "
            "this one: register the agent or create an enrollment token there first"
        )
    bound = data.get("host")
    if bound is not None and bound != host:
        raise EnrollError(
            f"the credential is for host {bound!r}, not this host {host!r}: pass --host, or "
            "use a credential made for this host"
        )
    return data


def exchange(base: str, token: str, ca_file: Path | None, host: str, agent_id: str) -> str:
    """This agent's own credential for an enrollment token."""
    body = {"host": host, "agent_id": agent_id}
    status, answer = call(base, "POST", "/api/v1/agents/enroll", token, ca_file, body)
    data = answer.get("data")
    if status == 201 and isinstance(data, dict) and isinstance(data.get("secret"), str):
        return str(data["secret"])
    raise EnrollError(f"the collector refused the enrollment ({status}): {_error(answer)}")


# -- this host -------------------------------------------------------------------------------


def _owner(user: str) -> tuple[int, int] | None:
    """The service user's uid and gid, when we are root and the user exists."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return None
    return entry.pw_uid, entry.pw_gid


def _chown_tree(path: Path, owner: tuple[int, int] | None) -> bool:
    """Give ``path`` and everything below it to ``owner``; True when anything changed (the
    agent run as root, ``--once`` for example, leaves files the service could not read)."""
    if owner is None:
        return False
    changed = False
    for entry in (path, *path.rglob("*")):
        stat = entry.lstat()
        if (stat.st_uid, stat.st_gid) != owner:
            os.chown(entry, *owner, follow_symlinks=False)
            changed = True
    return changed


def agent_id_of(state_dir: Path, owner: tuple[int, int] | None, report: Report) -> str:
    """The agent id kept in ``state_dir``, made (and given to the service user) if new."""
    try:
        agent_id = read_agent_id(state_dir)
        if agent_id is None:
            with StateStore(state_dir) as store:
                agent_id = store.agent_id
            report.did(f"created agent id {agent_id} in {state_dir}")
    except StateLockedError:
        raise EnrollError(f"{state_dir} is locked but holds no agent id") from None
    except StateError as exc:
        raise EnrollError(str(exc)) from None
    if _chown_tree(state_dir, owner):
        report.did(f"gave {state_dir} to the service user")
    return agent_id


def _existing_settings(config: Path) -> dict[str, Any]:
    try:
        with config.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise EnrollError(f"cannot read {config}: {exc}") from None


def _read_secret(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    except OSError as exc:
        raise EnrollError(f"cannot read {path}: {exc}") from None


def write_token_file(path: Path, secret: str, owner: tuple[int, int] | None) -> bool:
    """Write the credential (0600, the service user's); True when the file changed."""
    current = _read_secret(path)
    stat = path.stat() if current is not None else None
    wanted_owner = owner is None or (stat is not None and (stat.st_uid, stat.st_gid) == owner)
    if current == secret and stat is not None and stat.st_mode & 0o777 == 0o600 and wanted_owner:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, f"{secret}\n".encode(), mode=0o600)
    if owner is not None:
        os.chown(path, *owner)
    return True


def write_config(path: Path, values: dict[str, Value]) -> bool:
    """Set ``values`` in the configuration; True when it changed. The result must load."""
    before, after = update_file(path, values)
    if before == after:
        return False
    mode = path.stat().st_mode & 0o777 if before else 0o644
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, after.encode(), mode=mode)
    try:
        load_config(path, environ={})
    except ConfigError as exc:
        if before:
            replace_file(path, before.encode(), mode=mode)
        else:
            path.unlink()
        raise EnrollError(
            f"the configuration would not load ({exc}); {path} is unchanged"
        ) from None
    return True


def systemd_running() -> bool:
    return Path("/run/systemd/system").is_dir() and shutil.which("systemctl") is not None


def start_service(config: Path, changed: bool, report: Report) -> None:
    if not systemd_running():
        report.did(
            "systemd is not running here: start the agent with "
            f"`hostvitals-agent --config {config}` (as the {SERVICE_USER} user)",
            change=False,
        )
        return
    commands = [["systemctl", "enable", "--quiet", SERVICE]]
    commands.append(["systemctl", "restart" if changed else "start", SERVICE])
    for command in commands:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise EnrollError(f"`{' '.join(command)}` failed: {result.stderr.strip()}")
    report.did(f"{'restarted' if changed else 'started'} {SERVICE}", change=False)


# -- the command -----------------------------------------------------------------------------


def enroll(args: argparse.Namespace) -> Report:
    report = Report()
    base = args.collector.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise EnrollError(f"--collector must be an http:// or https:// URL, not {base!r}")
    if args.ca_file is not None and "ca_file" not in KEYS:
        raise EnrollError("this agent has no ca_file setting: upgrade it to use --ca-file")
    existing = _existing_settings(args.config)
    host = args.host or existing.get("host") or socket.gethostname()
    state_dir = args.state_dir or Path(existing.get("state_dir", DEFAULT_STATE_DIR))
    owner = _owner(args.user)
    agent_id = agent_id_of(state_dir, owner, report)

    secret = args.token.strip()
    if secret.startswith(ENROLLMENT_PREFIX):
        kept = _read_secret(args.token_file)
        try:
            if kept is None or kept.startswith(ENROLLMENT_PREFIX):
                raise EnrollError("no credential yet")
            check_credential(base, kept, args.ca_file, host)
            secret = kept
        except EnrollError:
            secret = exchange(base, secret, args.ca_file, host, agent_id)
            report.did(f"enrolled host {host!r} (agent id {agent_id}) with {base}")
    seen = check_credential(base, secret, args.ca_file, host)
    who = f"agent {seen.get('id')}" if seen.get("kind") == "agent" else str(seen.get("kind"))
    report.did(f"{base} answers and accepts the credential ({who}, host {host!r})", change=False)

    if write_token_file(args.token_file, secret, owner):
        report.did(f"wrote the credential to {args.token_file} (mode 0600)")
    values: dict[str, Value] = {
        "collector_urls": [base],
        "token_file": str(args.token_file),
        "token": None,
    }
    if args.ca_file is not None:
        values["ca_file"] = str(args.ca_file)
    if args.host is not None:
        values["host"] = args.host
    if args.state_dir is not None:
        values["state_dir"] = str(args.state_dir)
    if write_config(args.config, values):
        report.did(
            f"set {', '.join(k for k, v in values.items() if v is not None)} in {args.config}"
        )
    if not args.no_start:
        start_service(args.config, report.changed, report)
    return report


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    try:
        report = enroll(args)
    except EnrollError as exc:
        print(f"hostvitals-agent enroll: {exc}", file=sys.stderr)
        return EXIT_FAILED
    for line in report.done:
        print(f"- {line}")
    if not report.changed:
        print("nothing to change: this agent was enrolled already")
    with contextlib.suppress(BrokenPipeError):
        sys.stdout.flush()
    return 0
