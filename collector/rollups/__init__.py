"""Retention tiers and their rollups: which instance holds which resolution, the pure rollup
arithmetic, the persisted queue of buckets to compute, the job that computes them, and the cold
path for frames older than the raw tier's horizon."""
