"""The collector's settings: one declarative model per section (:mod:`.settings`, alerting in
:mod:`.alerts`, SLOs in :mod:`.slos`, the words they use in :mod:`.vocabulary`), loaded from
YAML and the environment by :mod:`.loader` and documented by :mod:`.reference`."""
