"""hostvitals: push-based host metrics.

- :mod:`hostvitals.shared`: the wire protocol and the metric catalogue;
- :mod:`hostvitals.agent`: samples a host and pushes frames;
- :mod:`hostvitals.collector`: receives, stores and serves them.

The sources live in the repository's ``agent/``, ``collector/`` and ``shared/`` folders; the
wheel maps them into this one namespace (see ``pyproject.toml``).
"""
