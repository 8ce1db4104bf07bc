"""``hostvitals-agent``: the command line entry point; ``hostvitals-agent enroll ...`` is
:mod:`hostvitals.agent.enroll`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from hostvitals.agent.config import (
    AGENT_KEYS,
    ENV_PREFIX,
    AgentConfig,
    ConfigError,
    Flag,
    load_config,
)
from hostvitals.agent.config.kinds import Choice, Kind
from hostvitals.agent.spool.errors import SpoolError
from hostvitals.agent.state import StateError
from hostvitals.shared.masking import install_log_masking, register_secret

log = logging.getLogger("agent")

T = TypeVar("T")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="hostvitals-agent",
        description="Sample this host's vitals and push them to a hostvitals collector.",
        epilog="Every setting can also come from the configuration file and from "
        f"{ENV_PREFIX}<KEY> environment variables; flags win over both. "
        "`hostvitals-agent enroll --help`: configure this host for a collector in one command.",
    )
    parser.add_argument("--config", type=Path, metavar="PATH", help="TOML configuration file")
    for key in AGENT_KEYS:
        if (flag := key.setting.flag) is not None:
            add_flag(parser, flag, key.setting.kind)
    parser.add_argument(
        "--once",
        action="store_true",
        help="sample two ticks one interval apart, print the frame as JSON and exit "
        "without sending",
    )
    return parser.parse_args(argv)


def add_flag(parser: argparse.ArgumentParser, flag: Flag, kind: Kind[Any]) -> None:
    """Add a setting's flag. Its value stays text and is checked by ``load_config`` like the
    other sources; the options of a choice are also shown to argparse (for ``--help``).
    """
    options: dict[str, Any] = {"help": flag.help, "metavar": flag.metavar}
    if flag.repeat:
        options["action"] = "append"
    if isinstance(kind, Choice):
        options["choices"] = kind.options
    parser.add_argument(flag.name, **options)


def configure_logging(level: str, token: str | None = None) -> None:
    """Log to stderr, every record masked (hostvitals.shared.masking): the token above all."""
    install_log_masking()
    register_secret(token)
    logging.basicConfig(
        stream=sys.stderr,
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop when it is installed, else on asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)


async def serve(config: AgentConfig, reload: Callable[[], AgentConfig] | None = None) -> int:
    """Run until SIGTERM or SIGINT, then spool what is pending and exit; SIGHUP reloads the
    configuration with ``reload``.
    """
    from hostvitals.agent.app import Agent  # the sending side is not needed for --once
    from hostvitals.agent.state import StateStore
    from hostvitals.agent.systemd import Notifier

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    notifier = Notifier.from_environ()
    try:
        with StateStore(config.state_dir) as state:
            agent = Agent(config, state, notifier=notifier, load_config=reload)
            loop.add_signal_handler(signal.SIGHUP, agent.request_reload)
            await agent.run(stop)
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
        if notifier is not None:
            notifier.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["enroll"]:
        from hostvitals.agent.enroll import main as enroll

        return enroll(argv[1:])
    args = parse_args(argv)
    try:
        config = load_config(args.config, environ=os.environ, flags=vars(args))
    except ConfigError as exc:
        print(f"hostvitals-agent: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.log_level, config.delivery.token)
    try:
        if args.once:
            from hostvitals.agent.once import run_once

            return run(run_once(config))

        def reload() -> AgentConfig:
            return load_config(args.config, environ=os.environ, flags=vars(args))

        return run(serve(config, reload))
    except (StateError, SpoolError) as exc:
        log.error("%s", exc)
        return 1
    except KeyboardInterrupt:  # Ctrl-C during --once; the service handles SIGINT itself
        return 130


if __name__ == "__main__":
    sys.exit(main())
