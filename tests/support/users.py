"""Users for tests: a cheap argon2id hasher (the real parameters cost tens of milliseconds a
hash), and a user made in an app's store."""

from __future__ import annotations

from argon2 import PasswordHasher

from hostvitals.collector.access.passwords import Passwords


def cheap_passwords() -> Passwords:
    return Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
