"""Setting top-level TOML keys in place: comments and tables stay, the result parses."""

from __future__ import annotations

import tomllib

from hostvitals.agent.tomledit import set_keys

SHIPPED = """# comment
# token = "..."
# token_file = "/etc/hostvitals/agent.token"
interval = 1
collector_urls = ["http://127.0.0.1:8000"]
token = "old"

[samplers.cpu]
enabled = true          # kept
"""


def test_keys_are_set_where_they_are_documented_and_tables_stay() -> None:
    text = set_keys(
        SHIPPED,
        {"collector_urls": ["https://c:8000"], "token_file": "/t", "token": None, "host": 'a"b'},
    )
    parsed = tomllib.loads(text)
    assert parsed["collector_urls"] == ["https://c:8000"] and parsed["token_file"] == "/t"
    assert "token" not in parsed and parsed["host"] == 'a"b'
    assert parsed["samplers"] == {"cpu": {"enabled": True}} and parsed["interval"] == 1
    assert text.startswith('# comment\n# token = "..."\ntoken_file = "/t"\n')
    assert "enabled = true          # kept" in text
    assert set_keys(text, {"collector_urls": ["https://c:8000"], "token": None}) == text


def test_an_empty_file_gets_the_keys() -> None:
    assert tomllib.loads(set_keys("", {"token_file": "/t"})) == {"token_file": "/t"}
