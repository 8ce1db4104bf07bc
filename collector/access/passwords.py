"""User passwords: argon2id hashes (argon2-cffi, its recommended parameters), and the rules a
new password and a user name must follow.

A password is checked against a hash in constant work whether or not the user exists
(:meth:`Passwords.verify_or_waste`), so the time of a login does not tell who has an account.
"""

from __future__ import annotations

import re
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

PASSWORD_MIN: Final = 8
PASSWORD_MAX: Final = 1024
NAME_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


class PasswordRuleError(ValueError):
    """A user name or password that breaks the rules; the message says which (never echoing
    the password)."""


def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise PasswordRuleError(
            "a user name is 1 to 64 letters, digits and . _ @ -, starting with a letter or digit"
        )
    return name


def check_password(password: str) -> str:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise PasswordRuleError(f"a password has {PASSWORD_MIN} to {PASSWORD_MAX} characters")
    return password


class Passwords:
    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher or PasswordHasher()
        self._dummy: str | None = None  # made at the first login of an unknown name

    def hash(self, password: str) -> str:
        return self.hasher.hash(check_password(password))

    def verify(self, stored: str, password: str) -> bool:
        try:
            return self.hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def verify_or_waste(self, stored: str | None, password: str) -> bool:
        """Check ``password`` against ``stored``; with no hash, spend the same work and fail."""
        if stored is None:
            if self._dummy is None:
                self._dummy = self.hasher.hash("not a password of anyone's")
            self.verify(self._dummy, password)
            return False
        return self.verify(stored, password)

    def needs_rehash(self, stored: str) -> bool:
        try:
            return self.hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return False
