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
