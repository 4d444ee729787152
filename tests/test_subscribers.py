"""Subscribers: validation, normalisation, lifecycle and upsert on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter import subscribers
from newsletter.models import Subscriber
from newsletter.roles import normalise_role, parse_roles
from newsletter.subscribers import SubscriberError, SubscriberInput, upsert


@pytest.mark.parametrize(
    ("given", "slug"),
    [
        ("DCS", "dcs"),
        ("Director of Children's Services", "dcs"),
        ("Director of Children’s Services", "dcs"),
        ("Lead Member", "lead-member"),
        ("Workforce Lead", "workforce-lead"),
        ("Head of Virtual School", "head-of-virtual-school"),
    ],
)
def test_role_names_are_normalised(given: str, slug: str) -> None:
    assert normalise_role(given) == slug


def test_roles_cell_splits_and_dedupes() -> None:
    assert parse_roles("DCS; Lead Member;dcs;;") == ["dcs", "lead-member"]


def test_email_is_validated_and_normalised() -> None:
    data = SubscriberInput.build("  Jane.Doe@Durham.GOV.uk ")
    assert data.email == "Jane.Doe@durham.gov.uk"
    assert data.email_key == "jane.doe@durham.gov.uk"
    with pytest.raises(SubscriberError) as caught:
        SubscriberInput.build("jane@")
    assert caught.value.field == "email"
    with pytest.raises(SubscriberError, match="is empty"):
        SubscriberInput.build("   ")
    with pytest.raises(SubscriberError, match="unknown status"):
        SubscriberInput.build("a@b.org", status="asleep")


def test_unique_case_insensitively(session: Session) -> None:
    upsert(session, [SubscriberInput.build("A@b.org")], default_status="active", consent_source="t")
    result = upsert(
        session,
        [SubscriberInput.build("a@B.ORG", name="Ann")],
        default_status="active",
        consent_source="t",
    )
    assert (result.created, result.updated) == (0, 1)
    assert session.scalar(select(func.count()).select_from(Subscriber)) == 1
    assert subscribers.find(session, "A@B.org").name == "Ann"


def test_upsert_never_resubscribes_an_opt_out(session: Session) -> None:
    upsert(
        session,
        [SubscriberInput.build("a@b.org", status="unsubscribed")],
        default_status="active",
        consent_source="t",
    )
    result = upsert(
        session,
        [SubscriberInput.build("a@b.org", status="active")],
        default_status="active",
        consent_source="t",
    )
    assert result.kept_opted_out == [0]
    assert subscribers.find(session, "a@b.org").status == "unsubscribed"


def test_lifecycle_stamps_times_and_consent(session: Session) -> None:
    upsert(
        session, [SubscriberInput.build("a@b.org")], default_status="pending", consent_source="form"
    )
    person = subscribers.find(session, "a@b.org")
    assert person.status == "pending" and person.confirmed_at is None
    assert person.consent_source == "form" and person.consent_at is not None
    assert subscribers.set_status(person, "active")
    assert person.confirmed_at is not None
    assert not subscribers.set_status(person, "active")
    assert subscribers.set_status(person, "unsubscribed")
    assert person.unsubscribed_at is not None
    subscribers.record_consent(person, "web", ip="192.0.2.1")
    assert subscribers.to_json(person)["consent"]["ip"] == "192.0.2.1"


def test_remove_and_not_found(session: Session) -> None:
    upsert(
        session,
        [SubscriberInput.build("a@b.org", roles=["DCS"])],
        default_status="active",
        consent_source="t",
    )
    subscribers.remove(session, "A@b.org")
    with pytest.raises(subscribers.SubscriberNotFoundError):
        subscribers.find(session, "a@b.org")


def test_iter_all_pages_in_id_order(session: Session) -> None:
    rows = [SubscriberInput.build(f"p{i}@b.org") for i in range(25)]
    upsert(session, rows, default_status="active", consent_source="t")
    emails = [s.email for s in subscribers.iter_all(session, batch=7)]
    assert emails == [f"p{i}@b.org" for i in range(25)]


@pytest.mark.parametrize(
    "address",
    [
        "Ann.Smith@Durham.GOV.uk",
        "o'neil+news@example.org",
        "a@münchen.example",
        "x@xn--mnchen-3ya.example",
        "ünïcode@example.org",
        '"quoted local"@example.org',
        "a..b@example.org",
        ".a@example.org",
        "a@localhost",
        "a@[192.0.2.1]",
        "a@example",
        "a@-bad-.org",
        "a" * 64 + "@example.org",
        "a" * 65 + "@example.org",
        "a@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + "." + "e" * 58 + ".org",
        "a@b@example.org",
        "no-at-sign",
        "trailing.dot.@example.org",
    ],
)
def test_normalise_email_agrees_with_email_validator(address: str) -> None:
    """The plain-address fast path gives exactly email-validator's answer."""
    from email_validator import EmailNotValidError, validate_email

    try:
        expected: tuple[str, str] | None = (
            validate_email(address, check_deliverability=False).normalized,
            validate_email(address, check_deliverability=False).normalized.lower(),
        )
    except EmailNotValidError:
        expected = None
    try:
        got: tuple[str, str] | None = subscribers.normalise_email(address)
    except SubscriberError:
        got = None
    assert got == expected
