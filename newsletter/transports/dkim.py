"""Optional DKIM signing of outgoing mail (RFC 6376), rsa-sha256 and ed25519-sha256 (RFC 8463).

Configured by ``dkim_domain``, ``dkim_selector`` and ``dkim_key_path`` (a PEM
private key; its type chooses the algorithm).  :class:`SigningTransport`
wraps any transport and signs each :class:`OutgoingMessage` just before it
is sent.  Signing is per recipient by necessity: the To header, the
List-Unsubscribe URL and the spliced body differ per recipient, so the body
hash does too.

The signature covers From, To, Subject, Date, Message-ID, List-Id,
List-Unsubscribe and List-Unsubscribe-Post (Gmail and Yahoo require the
one-click headers to be signed, RFC 8058 section 4), plus Reply-To, Cc,
MIME-Version, Content-Type and Feedback-ID when present.  From is over-signed
(listed once more than it occurs, RFC 6376 section 8.15) so a second From
cannot be added without breaking the signature.  Canonicalisation is
relaxed/relaxed (RFC 6376 section 3.4.2 and 3.4.4), which survives the
header refolding and trailing-whitespace changes relays make.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import dkim  # type: ignore[import-untyped]
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from newsletter.config import Settings, get_settings
from newsletter.errors import UserError
from newsletter.transports.base import OutgoingMessage, Transport

__all__ = [
    "SIGNED_HEADERS",
    "DkimKey",
    "DkimSigner",
    "SigningTransport",
    "signer_from_settings",
]

SIGNED_HEADERS: Final[tuple[str, ...]] = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "Reply-To",
    "Cc",
    "MIME-Version",
    "Content-Type",
    "Feedback-ID",
    # Over-signing: one more From than the message has (RFC 6376 section 8.15).
    "From",
)


class DkimError(UserError, ValueError):
    """The key cannot be used for DKIM, or signing failed."""


@dataclass(frozen=True, slots=True)
class DkimKey:
    """A private key with the domain (d=) and selector (s=) it signs for.

    ``private`` is in the form dkimpy takes: PKCS#1 PEM for RSA, the
    base64 32-byte seed for Ed25519.  ``public_record`` is the TXT record
    to publish at ``{selector}._domainkey.{domain}``.
    """

    domain: str
    selector: str
    algorithm: str
    private: bytes
    public_record: str

    @classmethod
    def from_pem(cls, domain: str, selector: str, pem: bytes) -> DkimKey:
        """Load a PEM private key (RSA of at least 1024 bits, or Ed25519).

        Raises DkimError for another key type, a short RSA key, or bad PEM.
        """
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise DkimError(f"cannot read the DKIM private key: {exc}") from exc
        if isinstance(key, rsa.RSAPrivateKey):
            # RFC 8301 section 3.2: verifiers must not accept keys under 1024 bits.
            if key.key_size < 1024:
                raise DkimError(f"RSA key of {key.key_size} bits is too short (1024 minimum)")
            private = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
            public = key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            return cls(
                domain=domain.lower(),
                selector=selector,
                algorithm="rsa-sha256",
                private=private,
                public_record=f"v=DKIM1; k=rsa; p={base64.b64encode(public).decode()}",
            )
        if isinstance(key, ed25519.Ed25519PrivateKey):
            seed = key.private_bytes(
                serialization.Encoding.Raw,
                serialization.PrivateFormat.Raw,
                serialization.NoEncryption(),
            )
            # RFC 8463 section 4.2: p= is the base64 of the raw 32-byte public key.
            raw_public = key.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
            return cls(
                domain=domain.lower(),
                selector=selector,
                algorithm="ed25519-sha256",
                private=base64.b64encode(seed),
                public_record=f"v=DKIM1; k=ed25519; p={base64.b64encode(raw_public).decode()}",
            )
        raise DkimError(f"DKIM needs an RSA or Ed25519 key, not {type(key).__name__}")

    @classmethod
    def from_file(cls, domain: str, selector: str, path: str | Path) -> DkimKey:
        """Load the PEM key at ``path``; raises OSError or DkimError."""
        return cls.from_pem(domain, selector, Path(path).read_bytes())


class DkimSigner:
    """Adds one DKIM-Signature per key (RSA and Ed25519 together is RFC 8463's advice)."""

    def __init__(self, keys: Sequence[DkimKey], headers: Sequence[str] = SIGNED_HEADERS) -> None:
        if not keys:
            raise DkimError("a DKIM signer needs at least one key")
        self.keys = tuple(keys)
        self._headers = [h.lower().encode("ascii") for h in headers]

    def sign(self, data: bytes) -> bytes:
        """Return ``data`` with DKIM-Signature header fields prepended (CRLF line endings).

        Raises DkimError when the message cannot be signed (no From, say).
        """
        signatures: list[bytes] = []
        for key in self.keys:
            try:
                signature = dkim.sign(
                    data,
                    key.selector.encode("ascii"),
                    key.domain.encode("ascii"),
                    key.private,
                    canonicalize=(b"relaxed", b"relaxed"),
                    signature_algorithm=key.algorithm.encode("ascii"),
                    include_headers=self._headers,
                    linesep=b"\r\n",
                )
            except dkim.DKIMException as exc:
                raise DkimError(f"DKIM signing failed: {exc}") from exc
            signatures.append(bytes(signature))
        # Prepend so each signature sits above the fields it covers (RFC 6376 5.6).
        return b"".join(reversed(signatures)) + data


class SigningTransport(Transport):
    """A transport that DKIM-signs every message, then hands it to ``inner``.

    Errors of ``inner`` pass through unchanged; a message that cannot be
    signed raises DkimError (a MessageError-like fault of the message, not of
    the transport, so it is never retried).
    """

    def __init__(self, inner: Transport, signer: DkimSigner) -> None:
        self.inner = inner
        self.signer = signer

    def send(self, message: OutgoingMessage) -> None:
        """Sign ``message.data`` and send it through the inner transport."""
        # The signature is new text: the unsigned message's dot_free promise
        # does not cover it, so the transport dot-stuffs as usual.
        signed = self.signer.sign(message.data)
        self.inner.send(dataclasses.replace(message, data=signed, dot_free=False))

    def close(self) -> None:
        """Close the inner transport."""
        self.inner.close()


def signer_from_settings(settings: Settings | None = None) -> DkimSigner | None:
    """The signer of ``dkim_domain``/``dkim_selector``/``dkim_key_path``; None when unset.

    Raises DkimError when only some of the three are set or the key is
    unusable, and OSError when the key file cannot be read.
    """
    s = settings or get_settings()
    values = (s.dkim_domain, s.dkim_selector, s.dkim_key_path)
    if not s.dkim_requested:
        return None
    if not all(values):
        raise DkimError("set all of DKIM_DOMAIN, DKIM_SELECTOR and DKIM_KEY_PATH, or none")
    assert s.dkim_domain and s.dkim_selector and s.dkim_key_path
    return DkimSigner([DkimKey.from_file(s.dkim_domain, s.dkim_selector, s.dkim_key_path)])
