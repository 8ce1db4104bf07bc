"""Chaos experiments: a private stack on loopback, a fault, and what it cost.

``hostvitals-chaos`` (``make chaos``) starts VictoriaMetrics tiers, a collector and agents
under a temporary directory, injects one fault per experiment
(:mod:`hostvitals.chaos.experiments`), measures lost and duplicated samples in every tier,
the recovery time and the collector's answers, and writes ``var/chaos/report.{md,json}``.
"""
