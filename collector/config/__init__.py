"""The collector's settings: one declarative model per section, loaded from YAML and the
environment (:mod:`.settings`), with alerting and SLOs in :mod:`.alerts`."""
