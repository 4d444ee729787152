"""Segment rules: parsing, errors with positions, and audiences on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from newsletter import segments
from newsletter.ingest import parse_file
from newsletter.paths import SAMPLES_DIR
from newsletter.segment_rules import And, Match, Not, Or, RuleError, parse_rule
from newsletter.send_review import review
from newsletter.subscribers import SubscriberInput, upsert
from newsletter.suppressions import add_suppression
from newsletter.updates import store_update

SAMPLE = SAMPLES_DIR / "north-east-2017-04.txt"


def _people(session: Session) -> None:
    rows = [
        SubscriberInput.build(
            "ann@durham.gov.uk", organisation="Durham", region="North East", roles=["DCS"]
        ),
        SubscriberInput.build(
            "bob@gateshead.gov.uk",
            organisation="Gateshead",
            region="North East",
            roles=["Lead Member", "Workforce Lead"],
        ),
        SubscriberInput.build(
            "cat@leeds.gov.uk",
            organisation="Leeds",
            region="Yorkshire and the Humber",
            roles=["Director of Children's Services"],
        ),
        SubscriberInput.build(
            "dan@durham.gov.uk",
            organisation="Durham",
            region="North East",
            roles=["dcs"],
            status="unsubscribed",
        ),
        SubscriberInput.build(
            "eve@newcastle.gov.uk",
            organisation="Newcastle",
            region="North East",
            roles=["Head of Virtual School"],
            attributes={"team": "Education"},
        ),
    ]
    upsert(session, rows, default_status="active", consent_source="test")


def test_precedence_not_and_or() -> None:
    rule = parse_rule("role:dcs or not region:x and status:active")
    assert rule == Or(
        (
            Match("role", "dcs", False),
            And((Not(Match("region", "x", False)), Match("status", "active", False))),
        )
    )


def test_quoted_values_and_role_normalisation() -> None:
    assert parse_rule('region:"North East"') == Match("region", "North East", False)
    assert parse_rule('role:"Lead Member"') == Match("role", "lead-member", False)
    assert parse_rule('role:"Director of Children\'s Services"') == Match("role", "dcs", False)
    assert parse_rule('organisation:"say \\"hi\\""') == Match("organisation", 'say "hi"', False)


@pytest.mark.parametrize(
    ("rule", "position", "fragment"),
    [
        ("role:dcs and (region:x", 23, "expected ')'"),
        ("role:dcs region:x", 10, "expected 'and' or 'or'"),
        ("colour:red", 1, "unknown field"),
        ("role:", 6, "expected a value"),
        ('region:"North', 8, "unterminated"),
        ("role:dcs and", 13, "expected field:value"),
        ("status:sleepy", 8, "unknown status"),
        ("role:dcs)", 9, "unexpected ')'"),
        ("", 1, "empty"),
    ],
)
def test_bad_rules_name_the_position(rule: str, position: int, fragment: str) -> None:
    with pytest.raises(RuleError) as caught:
        parse_rule(rule)
    assert caught.value.position == position
    assert fragment in caught.value.message
    assert f"position {position}" in str(caught.value)


def test_builtin_segments_count_only_active_by_role(session: Session) -> None:
    _people(session)
    assert segments.count(session, "dcs") == 2  # ann and cat; dan unsubscribed
    assert segments.count(session, "lead-member") == 1
    assert segments.count(session, "workforce-lead") == 1
    assert segments.count(session, "all") == 4


def test_custom_segment_with_boolean_logic(session: Session) -> None:
    _people(session)
    segments.add(session, "ne-leaders", '(role:dcs or role:lead-member) and region:"North East"')
    assert segments.count(session, "ne-leaders") == 2  # ann, bob
    segments.add(session, "not-durham", "not organisation:durham")
    assert segments.count(session, "not-durham") == 3
    segments.add(session, "by-attribute", "attr.team:education")
    assert segments.count(session, "by-attribute") == 1
    segments.add(session, "prefix", "region:north*")
    assert segments.count(session, "prefix") == 3
    segments.add(session, "other-role", 'role:"head of virtual school"')
    assert segments.count(session, "other-role") == 1


def test_status_rule_cannot_widen_beyond_active(session: Session) -> None:
    _people(session)
    segments.add(session, "gone", "status:unsubscribed")
    assert segments.count(session, "gone") == 0


def test_like_wildcards_in_values_are_literal(session: Session) -> None:
    upsert(
        session,
        [SubscriberInput.build("x@y.org", organisation="100%_Council")],
        default_status="active",
        consent_source="test",
    )
    assert segments.count_rule(session, "organisation:100%*") == 1
    assert segments.count_rule(session, "organisation:1_0*") == 0


def test_builtins_cannot_be_removed_and_names_are_slugs(session: Session) -> None:
    with pytest.raises(segments.SegmentError, match="built in"):
        segments.remove(session, "dcs")
    with pytest.raises(segments.SegmentError, match="slug"):
        segments.add(session, "Bad Name", "role:dcs")
    segments.add(session, "mine", "role:dcs")
    with pytest.raises(segments.SegmentError, match="already exists"):
        segments.add(session, "mine", "role:dcs")
    segments.remove(session, "mine")
    with pytest.raises(segments.SegmentError, match="no segment"):
        segments.get(session, "mine")


def test_builtin_segment_labels_have_one_definition() -> None:
    from newsletter.render.sections import segment_name
    from newsletter.roles import BUILTIN_ROLES
    from newsletter.segments import BUILTIN_SEGMENTS

    for slug, label in BUILTIN_ROLES.items():
        assert BUILTIN_SEGMENTS[slug][1] == label
        assert segment_name(slug) == label


def _first_match_people(session: Session) -> None:
    """People in several segments, out of the audience, and without roles or attributes."""
    _people(session)
    rows = [
        # In all three role segments.
        SubscriberInput.build(
            "fay@durham.gov.uk",
            organisation="Durham",
            region="North East",
            roles=["DCS", "Lead Member", "Workforce Lead"],
        ),
        # Matched by several segments but not active: never counted.
        SubscriberInput.build(
            "gus@durham.gov.uk",
            organisation="Durham",
            roles=["DCS", "Lead Member"],
            status="unsubscribed",
        ),
        SubscriberInput.build("hal@leeds.gov.uk", roles=["Lead Member"], status="bounced"),
        # Active, no roles, no attributes: only rules without role terms can match.
        SubscriberInput.build("ida@york.gov.uk", organisation="York", region="Yorkshire"),
        # Active and suppressed: the review counts who planning will list; the
        # suppression skips the address when its turn comes.
        SubscriberInput.build("jon@durham.gov.uk", organisation="Durham", roles=["Lead Member"]),
    ]
    upsert(session, rows, default_status="active", consent_source="test")
    add_suppression(session, "jon@durham.gov.uk", "manual", "asked by phone")


def _one_by_one(session: Session, rules: list[str]) -> list[int]:
    """The counts one query per rule, each excluding the earlier rules (as planning does)."""
    return [
        segments.count_rule(session, f"({rule})" + "".join(f" and not ({r})" for r in rules[:i]))
        for i, rule in enumerate(rules)
    ]


def test_first_matches_count_each_active_subscriber_once(session: Session) -> None:
    _first_match_people(session)
    rules = ["role:dcs", "role:lead-member", "role:workforce-lead"]
    # ann, cat, fay | bob, jon | nobody (bob is a lead member first).
    assert segments.count_first_matches(session, rules) == [3, 2, 0]
    # bob, fay | jon | ann, cat
    assert segments.count_first_matches(session, rules[::-1]) == [2, 1, 2]
    assert segments.count_first_matches(session, rules) == _one_by_one(session, rules)


@pytest.mark.parametrize(
    "rules",
    [
        ["status:active"],
        ["not role:dcs", "role:dcs"],
        ["role:lead* or attr.team:education", 'region:"North East"', "not organisation:durham"],
        ["not attr.team:education", "attr.team:education"],  # missing attribute: neither
        ["role:dcs and not role:lead-member", "organisation:durham and role:workforce-lead"],
        ['(role:dcs or role:lead-member) and region:"North East"', "role:dcs", "role:dcs"],
        ["region:x*", "organisation:york"],
    ],
)
def test_first_matches_agree_with_one_query_per_rule(session: Session, rules: list[str]) -> None:
    _first_match_people(session)
    assert segments.count_first_matches(session, rules) == _one_by_one(session, rules)


def test_first_matches_add_up_to_everyone_active_once(session: Session) -> None:
    _first_match_people(session)
    rules = ["role:dcs", "role:lead-member", "role:workforce-lead", "status:active"]
    # ann cat fay | bob jon | - | eve ida: the seven active people, once each.
    assert segments.count_first_matches(session, rules) == [3, 2, 0, 2]


def test_first_matches_refuse_a_bad_rule(session: Session) -> None:
    with pytest.raises(RuleError):
        segments.count_first_matches(session, ["role:dcs", "colour:red"])


def test_send_review_shows_each_editions_first_matches(session: Session) -> None:
    _first_match_people(session)
    segments.add(session, "durham", "organisation:durham")
    update_id = store_update(session, parse_file(SAMPLE).update, source_name=SAMPLE.name).id
    chosen = ["lead-member", "durham", "dcs", "durham"]  # a repeat counts once
    shown = review(session, update_id, chosen)
    # bob fay jon | ann | cat
    assert [(e.segment, e.recipients) for e in shown.editions] == [
        ("lead-member", 3),
        ("durham", 1),
        ("dcs", 1),
    ]
    assert shown.total == 5
