"""Deliverability: a sample send through SpamAssassin's local rules (``spamassassin -L -t``).

The message is built the way the dispatch engine builds it: the December 2018
sample ingested, rendered for each segment by ``render_edition``, assembled by
``MessageTemplate`` with the VERP return path, personalised, DKIM-signed
(SigningTransport into the in-memory transport).  SpamAssassin runs with
local tests only (no network), and the score and rule names are read from
the X-Spam-Status field it adds.
"""

from __future__ import annotations

import email
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from newsletter.bounces.verp import verp_address
from newsletter.config import Settings
from newsletter.content import Update
from newsletter.ingest import parse_file
from newsletter.message import MessageTemplate, Recipient
from newsletter.render import render_edition
from newsletter.transports import InMemoryTransport
from newsletter.transports.dkim import DkimKey, DkimSigner, SigningTransport

SAMPLE = Path(__file__).resolve().parent.parent / "newsletter/data/samples/north-east-2018-12.txt"
SETTINGS = Settings(
    secret_key="deliverability-test",
    base_url="https://news.example.org",
    from_address="North East Children's Services Network <updates@news.example.org>",
    list_id="north-east.news.example.org",
)
FORBIDDEN = ("MISSING_MID", "MISSING_DATE", "MIME_HTML_ONLY", "MPART_ALT_DIFF")
FORBIDDEN_PREFIXES = ("HTML_IMAGE_RATIO_", "HTML_FONT_LOW_CONTRAST")


@dataclass(frozen=True)
class Verdict:
    score: float
    rules: dict[str, float]


def spamassassin(data: bytes) -> Verdict:
    """Run ``spamassassin -L -t`` on ``data``; the score and each rule's points."""
    assert shutil.which("spamassassin"), "the setup installs Debian's spamassassin"
    done = subprocess.run(
        ["spamassassin", "-L", "-t"],
        input=data,
        capture_output=True,
        timeout=180,
        check=False,
    )
    output = done.stdout
    checked = email.message_from_bytes(output)
    # The field is folded after commas in the tests= list; unfold it (RFC 5322 2.2.3).
    status = re.sub(r",\s+", ",", " ".join(str(checked["X-Spam-Status"]).split()))
    score = re.search(r"score=(-?\d+(?:\.\d+)?)", status)
    assert score, status
    # The report at the end lists "pts rule description" per rule that fired.
    report = output.decode("utf-8", "replace").split("Content analysis details:", 1)[1]
    rules = {
        name: float(points)
        for points, name in re.findall(r"^\s*(-?\d+\.\d+)\s+([A-Z0-9_]+)\s", report, re.M)
    }
    tests = re.search(r"tests=(\S*)", status)
    listed = {t for t in (tests.group(1) if tests else "").split(",") if t and t != "none"}
    assert listed == set(rules), (listed, rules)
    return Verdict(float(score.group(1)), rules)


def sample_update() -> Update:
    update = parse_file(SAMPLE).update
    update.id = 1
    for index, event in enumerate(update.events, start=1):
        event.id = index
        event.uid = event.uid or f"event-{index}@north-east.news.example.org"
    return update


@pytest.fixture(scope="module")
def signed_messages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    update = sample_update()
    key = DkimKey.from_pem(
        "news.example.org",
        "nl2026",
        rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    inner = InMemoryTransport()
    transport = SigningTransport(inner, DkimSigner([key]))
    out: dict[str, bytes] = {}
    for index, segment in enumerate(("dcs", "lead-member", "workforce-lead"), start=1):
        edition = render_edition(update, segment, settings=SETTINGS)
        template = MessageTemplate.build(
            edition,
            settings=SETTINGS,
            envelope_from=lambda r: verp_address(r.delivery_id or 0, SETTINGS),
        )
        recipient = Recipient.for_subscriber(
            f"director{index}@council.example", "Jane Smith", index, 1000 + index,
            send_id=1, settings=SETTINGS,
        )  # fmt: skip
        transport.send(template.outgoing(recipient))
        sent = inner.messages[-1]
        # What the receiving MTA prepends: Return-Path from MAIL FROM (RFC 5321 4.4).
        out[segment] = f"Return-Path: <{sent.envelope_from}>\r\n".encode() + sent.data
        tmp_path_factory.mktemp("sa").joinpath(f"{segment}.eml").write_bytes(out[segment])
    return out


@pytest.mark.parametrize("segment", ["dcs", "lead-member", "workforce-lead"])
def test_spamassassin_score(signed_messages: dict[str, bytes], segment: str) -> None:
    verdict = spamassassin(signed_messages[segment])
    fired = sorted(verdict.rules)
    assert verdict.score < 1.0, (verdict.score, verdict.rules)
    for rule in fired:
        assert rule not in FORBIDDEN, verdict.rules
        assert not rule.startswith(FORBIDDEN_PREFIXES), verdict.rules


def test_checker_sees_a_bad_message() -> None:
    """The parser reads real verdicts: an HTML-only message without Message-ID or Date fires."""
    bad = (
        b"From: someone@news.example.org\r\nTo: x@council.example\r\nSubject: hi\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b"<html><body><p>Hello</p></body></html>\r\n"
    )
    verdict = spamassassin(bad)
    assert {"MISSING_MID", "MISSING_DATE", "MIME_HTML_ONLY"} <= set(verdict.rules)
    assert verdict.score > 1.0
