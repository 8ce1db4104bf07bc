"""Alerting and SLOs inside the collector.

Rules (threshold or PromQL) are evaluated on an interval against VictoriaMetrics; each alert
moves inactive -> pending -> firing -> resolved. Firing and resolved alerts are grouped,
filtered through silences and inhibition and delivered by notifiers (Slack, an
Alertmanager-compatible webhook, e-mail). SLOs report their error budget and burn rates and
generate multi-window, multi-burn-rate alert rules. See docs/alerts.md.
"""
