"""``hostvitals-collector [serve] [--config PATH] [--host H] [--port P]``, ``rules export``,
``tokens add|list|revoke``, ``agents add|list|rotate|unpin|revoke``,
``users add|list|passwd|set-role|remove``, ``enrollment create|list|revoke`` and
``backup --to DIR`` / ``restore --from DIR``.

The console script's entry point. A host that installed only the agent (``pip install
hostvitals``) lacks the collector extra, so :func:`main` checks for the extra's modules before
anything imports them, and says what to install instead of dying with a traceback.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hostvitals.collector import collector_version

if TYPE_CHECKING:
    from hostvitals.collector.config.settings import Settings

EXIT_CONFIG = 2
EXIT_MISSING_EXTRA = 2
GC_THRESHOLD_YOUNG = 50_000
GC_THRESHOLD_OLDER = 20

# The import names of the `collector` extra's distributions (pyproject.toml); a unit test keeps
# the two lists in step.
COLLECTOR_EXTRA_MODULES = (
    "aiohttp",
    "argon2",
    "cachetools",
    "dns",  # dnspython
    "fastapi",
    "msgspec",
    "opentelemetry.trace",  # opentelemetry-api
    "opentelemetry.sdk.trace",
    "opentelemetry.exporter.otlp.proto.http",
    "orjson",
    "prometheus_client",
    "pydantic",
    "requests",
    "uvicorn",
    "yaml",
    "zstandard",
)


def missing_extra_modules() -> list[str]:
    """The collector extra's modules that cannot be imported here, in the list's order."""
    return [name for name in COLLECTOR_EXTRA_MODULES if not _findable(name)]


def _findable(name: str) -> bool:
    try:  # a dotted name's parent package is imported first, and may be missing itself
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def missing_extra_message(missing: Sequence[str]) -> str:
    return (
        "hostvitals-collector needs the collector extra: "
        f"pip install 'hostvitals[collector]' (missing: {', '.join(missing)})"
    )


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 1-65535, got {port}")
    return port


def _add_serve_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    default: Any = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--config",
        metavar="PATH",
        default=default,
        help="YAML configuration (default: $HOSTVITALS_CONFIG, else config/config.yaml or "
        "/etc/hostvitals/collector.yaml if present)",
    )
    parser.add_argument("--host", default=default, help="listen address (server.host)")
    parser.add_argument("--port", type=_port, default=default, help="listen port (server.port)")


def build_parser() -> argparse.ArgumentParser:
    from hostvitals.collector.access.cli import add_access_commands
    from hostvitals.collector.access.usercli import add_users_command
    from hostvitals.collector.alerts.cli import add_rules_command
    from hostvitals.collector.backup.cli import add_backup_commands

    parser = argparse.ArgumentParser(
        prog="hostvitals-collector",
        description="Receive host metrics from hostvitals agents and serve them.",
    )
    parser.add_argument("--version", action="version", version=collector_version())
    _add_serve_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the HTTP server (the default)")
    _add_serve_options(serve, suppress=True)
    add_rules_command(commands)
    add_access_commands(commands)
    add_users_command(commands)
    add_backup_commands(commands)
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    from hostvitals.collector.config.loader import load_settings

    overrides: dict[str, Any] = {}
    if args.host is not None:
        overrides["server.host"] = args.host
    if args.port is not None:
        overrides["server.port"] = args.port
    return load_settings(args.config, os.environ, overrides)


def serve(settings: Settings) -> None:
    import uvicorn

    from hostvitals.collector.access.connguard import ConnectionGuard, guarded_protocol
    from hostvitals.collector.app import create_app
    from hostvitals.collector.drain import DrainingServer
    from hostvitals.collector.logformat import uvicorn_log_config
    from hostvitals.collector.tls.context import ServerTls
    from hostvitals.collector.tls.expiry import CertificateExpiry
    from hostvitals.collector.tls.protocol import protocol_class

    tls = ServerTls(settings.tls) if settings.tls.enabled else None
    app = create_app(settings)
    if tls is not None:
        server_tls = tls
        expiry = CertificateExpiry(app.state.metrics.registry)
        expiry.update(server_tls.cert_file, server_tls.client_ca_file)

        def reload_tls() -> None:
            server_tls.reload()
            expiry.update(server_tls.cert_file, server_tls.client_ca_file)

        app.state.reloads.add("tls", reload_tls, tls.files)
    guard = ConnectionGuard(settings.server, app.state.metrics.registry)
    tune_gc()
    log_config = uvicorn_log_config(settings.logging.format)
    config = uvicorn.Config(
        app,
        log_config=uvicorn.config.LOGGING_CONFIG if log_config is None else log_config,
        host=settings.server.host,
        port=settings.server.port,
        log_level=settings.server.log_level,
        access_log=settings.server.access_log,
        loop="auto",  # uvloop when installed
        # httptools when installed; passes client certificates on; with header and body
        # timeouts and connection limits (connguard.py).
        http=guarded_protocol(guard, protocol_class()),
        # One context for the server's life: reloads load new certificates into it.
        ssl_context_factory=None if tls is None else (lambda _config, _default: tls.context),
        server_header=False,
        # Live dashboard streams stay open until cut; do not wait for them forever.
        timeout_graceful_shutdown=settings.server.shutdown_timeout_s,
    )
    DrainingServer(config, app.state.drain).run()


def tune_gc() -> None:
    """Make the cyclic garbage collector run less often (a startup-time process setting).

    The live view and the series budget keep hundreds of thousands of small objects for a
    fleet; with the default thresholds (700, 10, 10) the collector walks all of them again and
    again while frames arrive, which cost about a third of the ingest CPU and put
    multi-millisecond pauses into every request. The ingest path makes few reference cycles,
    so collecting young objects every 50,000 allocations loses nothing. Objects alive after
    startup (modules, the app) are frozen out of all collections.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD_YOUNG, GC_THRESHOLD_OLDER, GC_THRESHOLD_OLDER)


def main(argv: Sequence[str] | None = None) -> int:
    missing = missing_extra_modules()
    if missing:
        print(missing_extra_message(missing), file=sys.stderr)
        return EXIT_MISSING_EXTRA
    # Only now: these import the collector extra's modules.
    from hostvitals.collector.access.cli import COMMANDS as ACCESS_COMMANDS
    from hostvitals.collector.access.cli import run_access_command
    from hostvitals.collector.access.usercli import run_users_command
    from hostvitals.collector.alerts.cli import run_rules_command
    from hostvitals.collector.backup.cli import COMMANDS as BACKUP_COMMANDS
    from hostvitals.collector.backup.cli import run_backup_command
    from hostvitals.collector.config.loader import ConfigError
    from hostvitals.collector.logformat import configure as configure_logging
    from hostvitals.collector.statedb import StateFormatError
    from hostvitals.shared.masking import install_log_masking

    args = build_parser().parse_args(argv)
    try:
        settings = settings_from_args(args)
        install_log_masking(mask_ips=settings.logging.mask_ip_addresses)
        configure_logging(settings.server.log_level, settings.logging.format)
        if args.command == "rules":
            return run_rules_command(args, settings)
        if args.command in ACCESS_COMMANDS:
            return run_access_command(args, settings)
        if args.command == "users":
            return run_users_command(args, settings)
        if args.command in BACKUP_COMMANDS:
            return run_backup_command(args, settings)
        serve(settings)
    except (ConfigError, StateFormatError) as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_CONFIG
    return 0


if __name__ == "__main__":
    sys.exit(main())
