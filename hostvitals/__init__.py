"""hostvitals: push-based host metrics.

- :mod:`hostvitals.shared`: the wire protocol and the metric catalogue;
- :mod:`hostvitals.agent`: samples a host and pushes frames;
- :mod:`hostvitals.collector`: receives, stores and serves them;
- :mod:`hostvitals.chaos`: chaos experiments against a private stack of all three.

The sources live in the repository's ``agent/``, ``collector/``, ``shared/`` and ``chaos/``
folders; the wheel maps them into this one namespace (see ``pyproject.toml``).
"""
