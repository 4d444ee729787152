"""Tokens: round trip, purpose binding, expiry, tampering and the URL helpers."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsletter.config import Settings
from newsletter.tokens import (
    CONFIRM,
    PREFERENCES,
    TTL,
    UNSUBSCRIBE,
    TokenExpired,
    TokenInvalid,
    confirm_url,
    mailto_unsubscribe,
    make_token,
    preferences_url,
    read_token,
    unsubscribe_url,
)

SECRET = "test-secret"
NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def settings() -> Settings:
    return Settings(
        secret_key=SECRET,
        base_url="https://news.example.org/",
        from_address="Updates <updates@mail.example.org>",
    )


def test_round_trip_with_and_without_extra() -> None:
    token = make_token(UNSUBSCRIBE, 42, ttl=timedelta(days=1), secret=SECRET, now=NOW)
    payload = read_token(token, UNSUBSCRIBE, secret=SECRET, now=NOW)
    assert (payload.purpose, payload.subject_id, payload.extra) == (UNSUBSCRIBE, 42, None)
    assert payload.expires_at == NOW + timedelta(days=1)

    token = make_token(UNSUBSCRIBE, 42, ttl=timedelta(days=1), extra=7, secret=SECRET, now=NOW)
    assert read_token(token, UNSUBSCRIBE, secret=SECRET, now=NOW).extra == 7


def test_tokens_are_compact_and_url_safe() -> None:
    plain = make_token(PREFERENCES, 2**40, ttl=timedelta(days=30), secret=SECRET, now=NOW)
    extra = make_token(UNSUBSCRIBE, 2**40, ttl=timedelta(days=1), extra=9, secret=SECRET, now=NOW)
    assert len(plain) == 40
    assert len(extra) == 51
    for token in (plain, extra):
        assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_no_email_address_in_token() -> None:
    token = make_token(CONFIRM, 5, ttl=timedelta(hours=1), secret=SECRET, now=NOW)
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert b"@" not in raw


def test_wrong_purpose_is_invalid_and_says_so() -> None:
    token = make_token(PREFERENCES, 1, ttl=timedelta(days=1), secret=SECRET, now=NOW)
    with pytest.raises(TokenInvalid, match="issued for 'preferences', not 'unsubscribe'"):
        read_token(token, UNSUBSCRIBE, secret=SECRET, now=NOW)


def test_expired() -> None:
    token = make_token(CONFIRM, 3, ttl=TTL[CONFIRM], secret=SECRET, now=NOW)
    read_token(token, CONFIRM, secret=SECRET, now=NOW + timedelta(hours=47, minutes=59))
    with pytest.raises(TokenExpired, match="expired") as caught:
        read_token(token, CONFIRM, secret=SECRET, now=NOW + timedelta(hours=48))
    assert caught.value.payload.subject_id == 3


def test_wrong_secret_is_invalid() -> None:
    token = make_token(CONFIRM, 3, ttl=timedelta(hours=1), secret=SECRET, now=NOW)
    with pytest.raises(TokenInvalid, match="signature"):
        read_token(token, CONFIRM, secret="other", now=NOW)


def test_every_single_byte_change_is_rejected() -> None:
    token = make_token(UNSUBSCRIBE, 99, ttl=timedelta(days=1), extra=5, secret=SECRET, now=NOW)
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    for i in range(len(raw)):
        for flip in (1, 0x80):
            changed = bytearray(raw)
            changed[i] ^= flip
            forged = base64.urlsafe_b64encode(bytes(changed)).rstrip(b"=").decode()
            with pytest.raises(TokenInvalid):
                read_token(forged, UNSUBSCRIBE, secret=SECRET, now=NOW)


@pytest.mark.parametrize("bad", ["", "abc", "!!!!", "é" * 40, "A" * 40, "A" * 51, "A" * 41])
def test_malformed_tokens_are_invalid(bad: str) -> None:
    with pytest.raises(TokenInvalid):
        read_token(bad, UNSUBSCRIBE, secret=SECRET, now=NOW)


def test_truncated_token_is_invalid() -> None:
    token = make_token(UNSUBSCRIBE, 99, ttl=timedelta(days=1), extra=5, secret=SECRET, now=NOW)
    for end in range(len(token)):
        with pytest.raises(TokenInvalid):
            read_token(token[:end], UNSUBSCRIBE, secret=SECRET, now=NOW)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown token purpose"):
        make_token("login", 1, ttl=timedelta(days=1), secret=SECRET)
    with pytest.raises(ValueError, match="unknown token purpose"):
        read_token("x", "login", secret=SECRET)
    with pytest.raises(ValueError, match="out of range"):
        make_token(UNSUBSCRIBE, -1, ttl=timedelta(days=1), secret=SECRET)
    with pytest.raises(ValueError, match="positive"):
        make_token(UNSUBSCRIBE, 1, ttl=timedelta(0), secret=SECRET)
    with pytest.raises(ValueError, match="timezone-aware"):
        make_token(UNSUBSCRIBE, 1, ttl=timedelta(days=1), secret=SECRET, now=datetime(2026, 1, 1))


@given(
    subject=st.integers(min_value=0, max_value=2**64 - 1),
    extra=st.none() | st.integers(min_value=0, max_value=2**64 - 1),
)
def test_round_trip_any_ids(subject: int, extra: int | None) -> None:
    token = make_token(UNSUBSCRIBE, subject, ttl=timedelta(days=1), extra=extra, secret=SECRET)
    payload = read_token(token, UNSUBSCRIBE, secret=SECRET)
    assert (payload.subject_id, payload.extra) == (subject, extra)


def test_url_helpers() -> None:
    s = settings()
    unsub = urlsplit(unsubscribe_url(12, 34, settings=s))
    assert (unsub.scheme, unsub.netloc) == ("https", "news.example.org")
    assert unsub.path.startswith("/u/")
    payload = read_token(unsub.path.removeprefix("/u/"), UNSUBSCRIBE, secret=SECRET)
    assert (payload.subject_id, payload.extra) == (12, 34)
    assert payload.expires_at - datetime.now(UTC) > timedelta(days=179)

    prefs = urlsplit(preferences_url(12, settings=s))
    assert prefs.path.startswith("/preferences/")
    assert read_token(prefs.path.split("/")[-1], PREFERENCES, secret=SECRET).subject_id == 12

    confirm = urlsplit(confirm_url(12, 77, settings=s))
    assert confirm.path.startswith("/confirm/")
    assert read_token(confirm.path.split("/")[-1], CONFIRM, secret=SECRET).subject_id == 12


def test_mailto_unsubscribe() -> None:
    url = mailto_unsubscribe(12, 34, settings=settings())
    assert url.startswith("mailto:unsubscribe@mail.example.org?subject=unsubscribe%20")
    subject = parse_qs(urlsplit(url).query)["subject"][0]
    word, token = unquote(subject).split(" ")
    assert word == "unsubscribe"
    assert read_token(token, UNSUBSCRIBE, secret=SECRET).extra == 34


@given(st.integers(0, 2**63), st.one_of(st.none(), st.integers(0, 2**63)))
def test_mailto_subject_is_exactly_percent_encoded(subscriber_id: int, send_id: int | None) -> None:
    # The subject is written without urllib's quote (it cost more than signing):
    # it must still be exactly what quote would produce (RFC 6068).
    url = mailto_unsubscribe(subscriber_id, send_id, settings=settings())
    prefix, subject = url.split("?subject=")
    assert subject == quote(unquote(subject), safe="")
    assert prefix == "mailto:unsubscribe@mail.example.org"
