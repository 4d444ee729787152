"""DKIM signing, verified by dkimpy and, independently, by OpenDKIM (``opendkim -t``).

OpenDKIM is a separate C implementation (Debian's ``opendkim``); its
``TestPublicKeys`` setting reads the public keys from a file instead of DNS,
so the test needs no network.
"""

from __future__ import annotations

import email
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import dkim  # type: ignore[import-untyped]
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from newsletter.config import Settings
from newsletter.message import MessageTemplate, Recipient
from newsletter.parts import GREETING, PREFERENCES_URL, UNSUBSCRIBE_URL, RenderedEdition
from newsletter.transports import InMemoryTransport, OutboxTransport, transport_from_settings
from newsletter.transports.dkim import (
    DkimError,
    DkimKey,
    DkimSigner,
    SigningTransport,
    signer_from_settings,
)

SETTINGS = Settings(
    secret_key="dkim-test",
    base_url="https://news.example.org",
    from_address="North East Network <updates@mail.example.org>",
)
EDITION = RenderedEdition(
    update_id=3,
    segment="dcs",
    segment_name="DCS",
    subject="Regional update — café £5",
    preheader="",
    html=f"<!DOCTYPE html><html><body><p>{GREETING}</p><a href='{UNSUBSCRIBE_URL}'>u</a>"
    f"<a href='{PREFERENCES_URL}'>p</a>" + "<p>text " * 300 + "</body></html>",
    text=f"{GREETING}\n\nNews.   \nUnsubscribe: {UNSUBSCRIBE_URL}\nPrefs: {PREFERENCES_URL}\n",
)
COVERED = [
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
]


def pem(key: PrivateKeyTypes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


KEYS: dict[str, Callable[[], bytes]] = {
    "rsa-sha256": lambda: pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    "ed25519-sha256": lambda: pem(ed25519.Ed25519PrivateKey.generate()),
}


def message(name: str | None = "Jane Smith", email_address: str = "jane@council.example") -> bytes:
    template = MessageTemplate.build(EDITION, settings=SETTINGS)
    recipient = Recipient.for_subscriber(email_address, name, 7, 70, send_id=1, settings=SETTINGS)
    return template.personalise(recipient)


def dkimpy_verify(data: bytes, keys: list[DkimKey]) -> bool:
    records = {f"{k.selector}._domainkey.{k.domain}.".encode(): k.public_record for k in keys}

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        record = records.get(name if name.endswith(b".") else name + b".")
        return record.encode() if record else None

    return bool(dkim.verify(data, dnsfunc=dnsfunc))


def opendkim_verify(data: bytes, keys: list[DkimKey], tmp_path: Path) -> list[tuple[str, str]]:
    """Run OpenDKIM over ``data``; returns ``(result, selector)`` per signature.

    Read from the Authentication-Results field (RFC 8601) that ``-vvv`` prints.
    """
    assert shutil.which("opendkim"), "the setup installs Debian's opendkim"
    keyfile = tmp_path / "keys"
    keyfile.write_text(
        "".join(f"{k.selector}._domainkey.{k.domain} {k.public_record}\n" for k in keys)
    )
    conf = tmp_path / "opendkim.conf"
    conf.write_text(f"Mode v\nSyslog no\nTestPublicKeys {keyfile}\n")
    path = tmp_path / "message.eml"
    path.write_bytes(data)
    done = subprocess.run(
        ["opendkim", "-x", str(conf), "-vvv", "-t", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    found = re.findall(r"dkim=(\w+)[^;]*? header\.s=([\w.-]+)", done.stdout + done.stderr)
    return [(result, selector) for result, selector in found]


@pytest.mark.parametrize("algorithm", sorted(KEYS))
def test_signature_verifies_with_two_verifiers(algorithm: str, tmp_path: Path) -> None:
    key = DkimKey.from_pem("mail.example.org", "nl2026", KEYS[algorithm]())
    assert key.algorithm == algorithm
    signed = DkimSigner([key]).sign(message())
    parsed = email.message_from_bytes(signed)
    tags = dict(
        t.strip().split("=", 1)
        for t in "".join(parsed["DKIM-Signature"].split()).split(";")
        if "=" in t
    )
    assert tags["a"] == algorithm and tags["d"] == "mail.example.org" and tags["s"] == "nl2026"
    assert tags["c"] == "relaxed/relaxed"
    signed_headers = tags["h"].lower().split(":")
    for name in COVERED:
        assert name in signed_headers
    assert signed_headers.count("from") == 2  # over-signed
    assert dkimpy_verify(signed, [key])
    assert opendkim_verify(signed, [key], tmp_path) == [("pass", "nl2026")]


@pytest.mark.parametrize("algorithm", sorted(KEYS))
@pytest.mark.parametrize(
    "tamper",
    [
        (b"List-Unsubscribe-Post: List-Unsubscribe=One-Click", b"List-Unsubscribe-Post: No"),
        (b"Subject: ", b"Subject: Re: "),
        (b"Unsubscribe:", b"Unsubscribed:"),
        (b"\r\nTo: ", b"\r\nFrom: evil@attacker.example\r\nTo: "),
    ],
    ids=["one-click", "subject", "body", "second-from"],
)
def test_tampering_fails_both_verifiers(
    algorithm: str, tamper: tuple[bytes, bytes], tmp_path: Path
) -> None:
    key = DkimKey.from_pem("mail.example.org", "nl2026", KEYS[algorithm]())
    signed = DkimSigner([key]).sign(message())
    old, new = tamper
    assert old in signed
    broken = signed.replace(old, new, 1)
    assert not dkimpy_verify(broken, [key])
    assert opendkim_verify(broken, [key], tmp_path) == [("fail", "nl2026")]


def test_dual_signature_and_signing_transport(tmp_path: Path) -> None:
    keys = [
        DkimKey.from_pem("mail.example.org", "rsa2026", KEYS["rsa-sha256"]()),
        DkimKey.from_pem("mail.example.org", "ed2026", KEYS["ed25519-sha256"]()),
    ]
    inner = InMemoryTransport()
    template = MessageTemplate.build(EDITION, settings=SETTINGS)
    with SigningTransport(inner, DkimSigner(keys)) as transport:
        for index, name in enumerate(["Zoë Ångström", None]):
            recipient = Recipient.for_subscriber(
                f"person{index}@council.example", name, index, 100 + index, settings=SETTINGS
            )
            transport.send(template.outgoing(recipient))
    assert len(inner.messages) == 2
    for sent in inner.messages:
        # The template's no-leading-dot promise does not cover the signature.
        assert not sent.dot_free
        assert sent.data.count(b"DKIM-Signature:") == 2
        assert dkimpy_verify(sent.data, keys)
        results = sorted(opendkim_verify(sent.data, keys, tmp_path))
        assert results == [("pass", "ed2026"), ("pass", "rsa2026")]


def test_signer_from_settings(tmp_path: Path) -> None:
    assert signer_from_settings(SETTINGS) is None
    path = tmp_path / "dkim.pem"
    path.write_bytes(KEYS["ed25519-sha256"]())
    settings = Settings(dkim_domain="mail.example.org", dkim_selector="s1", dkim_key_path=str(path))
    signer = signer_from_settings(settings)
    assert signer is not None and signer.keys[0].algorithm == "ed25519-sha256"
    with pytest.raises(DkimError):
        signer_from_settings(Settings(dkim_domain="mail.example.org"))
    with pytest.raises(DkimError, match="RSA or Ed25519"):
        DkimKey.from_pem("x.example", "s", pem(ec.generate_private_key(ec.SECP256R1())))
    with pytest.raises(DkimError):
        DkimKey.from_pem("x.example", "s", b"not a key")


def test_transport_from_settings_signs_only_when_dkim_is_set(tmp_path: Path) -> None:
    base = SETTINGS.model_copy(update={"outbox_dir": str(tmp_path / "outbox")})
    assert isinstance(transport_from_settings(base), OutboxTransport)
    path = tmp_path / "dkim.pem"
    path.write_bytes(KEYS["ed25519-sha256"]())
    keyed = {"dkim_domain": "mail.example.org", "dkim_selector": "s1", "dkim_key_path": str(path)}
    signed = transport_from_settings(base.model_copy(update=keyed))
    assert isinstance(signed, SigningTransport)
    # Only some DKIM settings given is a configuration error, not silently unsigned mail.
    with pytest.raises(DkimError):
        transport_from_settings(base.model_copy(update={"dkim_selector": "s1"}))
