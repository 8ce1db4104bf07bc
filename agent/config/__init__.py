"""Agent configuration: a TOML file, overridden by environment variables, then by CLI flags.

Every setting is declared once, in ``model``: its default, its kind (which checks and converts
it), one line of documentation, its flag if it has one, and whether a reload applies it. Keys,
environment variables, flags and the table in ``docs/agent.md`` all follow from there.

Environment variables are ``HOSTVITALS_AGENT_<KEY>``; nested keys join their parts with a
double underscore (``HOSTVITALS_AGENT_SAMPLERS__PROCESSES__TOP_N=5``) and lists are
comma-separated (``HOSTVITALS_AGENT_COLLECTOR_URLS=http://a:8000,http://b:8000``).
Every value is checked; an unknown key or a bad value is an error naming the key, the value
and where it came from. ``deploy/agent.example.toml`` documents every key.
"""

from hostvitals.agent.config.declare import ENV_PREFIX, Flag
from hostvitals.agent.config.load import AGENT_KEYS, KEYS, keep_restart_only, load_config
from hostvitals.agent.config.model import (
    DEFAULT_STATE_DIR,
    LOG_LEVELS,
    AgentConfig,
    DeliveryConfig,
    PathsConfig,
    SpoolConfig,
)
from hostvitals.agent.config.samplers import (
    FilesystemConfig,
    GpuConfig,
    NetworkConfig,
    ProcessesConfig,
    SamplerConfig,
    SamplersConfig,
    SmartConfig,
)
from hostvitals.agent.config.sources import ConfigError

__all__ = [
    "AGENT_KEYS",
    "DEFAULT_STATE_DIR",
    "ENV_PREFIX",
    "KEYS",
    "LOG_LEVELS",
    "AgentConfig",
    "ConfigError",
    "DeliveryConfig",
    "FilesystemConfig",
    "Flag",
    "GpuConfig",
    "NetworkConfig",
    "PathsConfig",
    "ProcessesConfig",
    "SamplerConfig",
    "SamplersConfig",
    "SmartConfig",
    "SpoolConfig",
    "keep_restart_only",
    "load_config",
]
