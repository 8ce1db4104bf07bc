"""The collector's settings: one declarative model per section (:mod:`.settings`, the storage
tiers in :mod:`.tiers` with their single-node or cluster layout in :mod:`.vmlayout`, alerting
in :mod:`.alerts`, SLOs in :mod:`.slos`, the words they use in :mod:`.vocabulary`), loaded from
YAML and the environment by :mod:`.loader` and documented by :mod:`.reference`."""
