"""The collector's settings: one declarative model per section (:mod:`.settings`, with alerting
and SLOs in :mod:`.alerts`), loaded from YAML and the environment by :mod:`.loader`."""
