"""The session cookie's attributes, reading it among other cookies, and the origin check."""

from __future__ import annotations

import pytest

from hostvitals.collector.access import cookies


def scope(**headers: str) -> dict[str, object]:
    return {"headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]}


def test_the_cookie_is_http_only_strict_and_secure_only_under_tls() -> None:
    plain = cookies.set_cookie_header("hvs_x", secure=False, max_age_s=60)
    assert plain == "hostvitals_session=hvs_x; Path=/; HttpOnly; SameSite=Strict; Max-Age=60"
    assert cookies.set_cookie_header("hvs_x", secure=True, max_age_s=60).endswith("; Secure")
    assert "Max-Age=0" in cookies.clear_cookie_header(secure=False)


@pytest.mark.parametrize(
    ("header", "secret"),
    [("hostvitals_session=hvs_abc", "hvs_abc"),
     ("theme=dark; hostvitals_session=hvs_abc; other=1", "hvs_abc"),
     ("hostvitals_session=", None), ("theme=dark", None), ('hostvitals_session="unclosed', None),
     ("xhostvitals_session=hvs_abc", None)],
)  # fmt: skip
def test_the_session_is_read_among_other_cookies(header: str, secret: str | None) -> None:
    assert cookies.session_secret(scope(cookie=header)) == secret


@pytest.mark.parametrize(
    ("origin", "host", "same"),
    [(None, "collector:8000", True), ("http://collector:8000", "collector:8000", True),
     ("https://collector", "collector", True), ("https://collector:443", "collector", True),
     ("http://COLLECTOR:8000", "collector:8000", True),
     ("http://evil.example", "collector:8000", False), ("null", "collector:8000", False),
     ("http://collector:8001", "collector:8000", False), ("http://collector:8000", "", False)],
)  # fmt: skip
def test_the_origin_must_be_ours_when_sent(origin: str | None, host: str, same: bool) -> None:
    headers = {"host": host} if origin is None else {"host": host, "origin": origin}
    assert cookies.same_origin(scope(**headers)) is same
