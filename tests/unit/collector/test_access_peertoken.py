"""The cluster's peer token file: read, checked, reloaded, never repeated in a message."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostvitals.collector.access.peertoken import PeerToken, read_peer_token
from hostvitals.collector.config.loader import ConfigError

TOKEN = "a-peer-token-long-enough-0123"


def test_the_first_line_that_is_no_comment_is_the_token(tmp_path: Path) -> None:
    path = tmp_path / "peer-token"
    path.write_text(f"# the cluster's token\n\n  {TOKEN}  # made today\nsecond-line-ignored-xx\n")
    assert read_peer_token(path) == TOKEN


@pytest.mark.parametrize("text", ["", "# only a comment\n", "short\n"])
def test_a_file_without_a_usable_token_is_refused_without_showing_it(
    tmp_path: Path, text: str
) -> None:
    path = tmp_path / "peer-token"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"cluster\.peer_token_file") as raised:
        read_peer_token(path)
    assert "short" not in str(raised.value).replace("shorter", "")


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        PeerToken(tmp_path / "absent")


def test_the_token_is_known_until_a_reload_takes_another(tmp_path: Path) -> None:
    path = tmp_path / "peer-token"
    path.write_text(TOKEN + "\n")
    token = PeerToken(path)
    assert token.secret == TOKEN and token.knows(TOKEN)
    assert not token.knows(TOKEN + "x") and not token.knows("")
    path.write_text("the-next-peer-token-456789\n")
    token.reload()
    assert token.knows("the-next-peer-token-456789") and not token.knows(TOKEN)
    path.write_text("")  # a broken file keeps the running token
    with pytest.raises(ConfigError):
        token.reload()
    assert token.secret == "the-next-peer-token-456789"


def test_without_a_file_nothing_is_known() -> None:
    token = PeerToken(None)
    assert token.secret is None and not token.knows(TOKEN)
    token.reload()
    assert token.secret is None
