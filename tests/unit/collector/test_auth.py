"""Bearer tokens: configured tokens, token files, and the 401 answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostvitals.collector.config.loader import ConfigError
from hostvitals.collector.config.settings import AuthSettings
from hostvitals.collector.errors import IngestRejected
from hostvitals.collector.ingest.auth import BearerAuth, load_tokens


def test_no_tokens_lets_everything_through() -> None:
    auth = BearerAuth([])
    assert not auth.enabled
    auth.check(None)
    auth.check("Bearer anything")


@pytest.mark.parametrize(
    ("header", "says"),
    [
        (None, "missing"),
        ("", "missing"),
        ("Bearer", "must be 'Bearer <token>'"),
        ("Token abc", "must be 'Bearer <token>'"),
        ("Bearer abd", "unknown bearer token"),
        ("Bearer abcd", "unknown bearer token"),
    ],
)
def test_bad_credentials_are_401_with_a_challenge(header: str | None, says: str) -> None:
    auth = BearerAuth(["abc", "xyz"])
    with pytest.raises(IngestRejected) as err:
        auth.check(header)
    assert err.value.status == 401
    assert err.value.headers == {"WWW-Authenticate": "Bearer"}
    assert says in err.value.message


@pytest.mark.parametrize("header", ["Bearer abc", "bearer xyz", "Bearer   abc  "])
def test_known_tokens_pass(header: str) -> None:
    BearerAuth(["abc", "xyz"]).check(header)


def test_tokens_file_adds_tokens(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text("# agents\nfirst\n\n  second  # trailing comment\nfirst\n")
    tokens = load_tokens(AuthSettings(tokens=["inline"], tokens_file=path))
    assert tokens == ("inline", "first", "second")


def test_unreadable_or_empty_tokens_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_tokens(AuthSettings(tokens_file=tmp_path / "absent"))
    empty = tmp_path / "empty"
    empty.write_text("# nothing\n")
    with pytest.raises(ConfigError, match="holds no token"):
        load_tokens(AuthSettings(tokens_file=empty))
