"""Backup and restore of a collector's tiers and state (docs/operations.md)."""
