"""The small pieces of the API client a user relies on: token handling, Retry-After, redaction, settings."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from auditreports.api import FetchSettings, LinkHeader, Token, load_token, parse_retry_after, public_endpoint, redact
from auditreports.api.pagination import BodyCursor, PageShapeError
from auditreports.errors import ConfigError, UsageError

SECRET = "tok_live_abcdef0123456789"


def test_token_comes_from_the_environment_or_a_file(tmp_path) -> None:
    assert load_token({"AUDITREPORTS_TOKEN": SECRET}).reveal() == SECRET
    path = tmp_path / "token"
    path.write_text(f"  {SECRET}\n", encoding="utf-8")
    assert load_token({"AUDITREPORTS_TOKEN_FILE": str(path)}).reveal() == SECRET
    # the variable wins over the file
    assert load_token({"AUDITREPORTS_TOKEN": "tok_env_1", "AUDITREPORTS_TOKEN_FILE": str(path)}).reveal() == "tok_env_1"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "no API token: set AUDITREPORTS_TOKEN"),
        ({"AUDITREPORTS_TOKEN": "   "}, "the API token is empty"),
        ({"AUDITREPORTS_TOKEN_FILE": "/nonexistent/token"}, "cannot read the token file"),
        ({"AUDITREPORTS_TOKEN": "tok with space"}, "whitespace or control characters"),
    ],
)
def test_token_problems_are_one_sentence(environ, message) -> None:
    with pytest.raises(UsageError, match=message) as info:
        load_token(environ)
    assert info.value.exit_code == 2
    assert "tok with space" not in info.value.message


def test_token_does_not_print_or_pickle_itself() -> None:
    token = Token(SECRET)
    assert SECRET not in repr(token) and SECRET not in str(token) and SECRET not in f"{token}"
    with pytest.raises(TypeError):
        pickle.dumps(token)
    assert (
        redact(f"GET failed with Bearer {SECRET} and {SECRET}", token)
        == "GET failed with Bearer [REDACTED] and [REDACTED]"
    )


def test_retry_after_both_forms() -> None:
    now = datetime(2026, 7, 3, 12, 0, 0, tzinfo=UTC).timestamp()
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after(" 0 ", now) == 0.0
    later = format_datetime(datetime(2026, 7, 3, 12, 0, 45, tzinfo=UTC), usegmt=True)
    assert parse_retry_after(later, now) == 45.0
    earlier = format_datetime(datetime(2026, 7, 3, 11, 0, 0, tzinfo=UTC), usegmt=True)
    assert parse_retry_after(earlier, now) == 0.0
    for unusable in (None, "", "soon", "-5", "1.5"):
        assert parse_retry_after(unusable, now) is None


def test_endpoint_written_down_without_secrets() -> None:
    assert public_endpoint("https://bob:pw@api.example.com:8443/v1/audit-log?api_key=abc&region=eu") == (
        "https://api.example.com:8443/v1/audit-log?api_key=[REDACTED]&region=eu"
    )
    assert public_endpoint("http://127.0.0.1:8765/v1/audit-log") == "http://127.0.0.1:8765/v1/audit-log"


def test_settings_reject_unknown_and_bad_values() -> None:
    assert FetchSettings.from_mapping({"page_size": 200}).page_size == 200
    with pytest.raises(ConfigError, match="unknown fetch setting"):
        FetchSettings.from_mapping({"page_sise": 200})
    with pytest.raises(ConfigError, match="between 1 and 1000"):
        FetchSettings(page_size=1001)  # each API style caps it lower (500 platform, 100 GitHub)
    with pytest.raises(ConfigError, match="one word such as Bearer or SSWS"):
        FetchSettings(auth_scheme="Bearer x")
    with pytest.raises(ConfigError, match="unknown fetch setting"):
        FetchSettings.from_mapping({"sleep": 0})  # seams are code, not configuration


def _response(body: object, headers: dict[str, str] | None = None, url: str = "https://api.example.com/v1/audit-log"):
    return httpx.Response(200, json=body, headers=headers, request=httpx.Request("GET", url))


def test_body_cursor_ends_and_continues() -> None:
    strategy = BodyCursor()
    assert strategy.next_page(_response({}), {"data": [1], "has_more": False, "next_cursor": "c1"}) is None
    assert strategy.next_page(_response({}), {"data": [1], "has_more": False, "next_cursor": None}) is None
    nxt = strategy.next_page(_response({}), {"data": [1], "has_more": True, "next_cursor": "c/2+"})
    assert nxt is not None and nxt.cursor == "c/2+"
    assert httpx.URL(nxt.url).params["cursor"] == "c/2+"
    with pytest.raises(PageShapeError, match="gives no 'next_cursor'"):
        strategy.next_page(_response({}), {"data": [1], "has_more": True, "next_cursor": None})
    with pytest.raises(PageShapeError, match="not a list of events"):
        strategy.records({"items": []})


def test_link_header_never_sends_the_token_to_another_host() -> None:
    strategy = LinkHeader()
    same = _response({}, {"Link": '</v1/audit-log?after=abc>; rel="next", <https://x/first>; rel="first"'})
    nxt = strategy.next_page(same, {})
    assert nxt is not None and nxt.url == "https://api.example.com/v1/audit-log?after=abc"
    other = _response({}, {"Link": '<https://evil.example.net/v1/audit-log?after=abc>; rel="next"'})
    with pytest.raises(PageShapeError, match="another host"):
        strategy.next_page(other, {})
    assert strategy.next_page(_response({}, {"Link": '<https://x/first>; rel="first"'}), {}) is None


def test_public_api_is_curated() -> None:
    import auditreports.api as api

    assert api.__all__ == sorted(api.__all__, key=lambda n: (not n.isupper(), n))
    for name in api.__all__:
        assert getattr(api, name) is not None
