"""VERP return paths: one signed envelope sender per delivery.

Variable Envelope Return Paths (Bernstein, 1997) give every message its own
SMTP MAIL FROM, so a bounce, which RFC 5321 section 4.5.5 sends to that
reverse-path, says by its very address which delivery failed, whatever the
bounce's body looks like.  The address is::

    bounces+<delivery id>.<tag>@<bounce domain>

``tag`` is the first 80 bits of HMAC-SHA256(secret_key, "newsletter.verp.v1\\0" + id) in
lower-case base32 (RFC 4648 section 6), 16 characters.  Base32 is
case-insensitive, so a relay that lower- or upper-cases the local part
(RFC 5321 section 2.4 allows the receiving host to treat it so) does not break
it, and ``+`` and ``.`` are plain dot-atom text (RFC 5322 section 3.2.3).  The
whole local part stays far below the 64-octet limit of RFC 5321 section
4.5.3.1.1.  The tag keeps anyone who can write to the bounce mailbox from
suppressing arbitrary subscribers by guessing ids; it does not expire, since
bounces may come days after a send.

``newsletter.tokens`` has a fixed purpose table and 40+ character URL tokens
with expiry, so this module signs its own, shorter token with a separate
domain-separation prefix.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from email.utils import getaddresses
from typing import Final

from newsletter.config import Settings, get_settings

__all__ = ["VERP_LOCAL", "delivery_from_verp", "verp_address", "verp_domain"]

VERP_LOCAL: Final = "bounces"
_TAG_BYTES: Final = 10
_PREFIX: Final = b"newsletter.verp.v1\x00"
_LOCAL_RE: Final = re.compile(r"^bounces\+([0-9]{1,19})\.([a-z2-7]{16})$", re.IGNORECASE)


def verp_domain(settings: Settings | None = None) -> str:
    """The domain bounces are addressed to: ``bounce_domain`` or the From domain."""
    s = settings or get_settings()
    return (s.bounce_domain or s.sending_domain).strip().lower()


def _tag(secret: str, delivery_id: int) -> str:
    if not secret:
        raise ValueError("an empty secret cannot sign VERP addresses")
    mac = hmac.new(secret.encode("utf-8"), _PREFIX + str(delivery_id).encode(), hashlib.sha256)
    return base64.b32encode(mac.digest()[:_TAG_BYTES]).decode("ascii").lower()


def verp_address(delivery_id: int, settings: Settings | None = None) -> str:
    """Return ``bounces+ID.TAG@domain``, the envelope sender for delivery ``delivery_id``.

    Raises ValueError for a negative id or an empty secret key.
    """
    if delivery_id < 0 or delivery_id >= 2**63:
        raise ValueError(f"delivery id out of range: {delivery_id}")
    s = settings or get_settings()
    return f"{VERP_LOCAL}+{delivery_id}.{_tag(s.secret_key, delivery_id)}@{verp_domain(s)}"


def delivery_from_verp(address: str, settings: Settings | None = None) -> int | None:
    """Return the delivery id a VERP address names, or None.

    Accepts a bare addr-spec, ``<addr>`` or ``Name <addr>``, in any case.
    Returns None when the address is not ours (another local part or domain),
    malformed, or its tag does not verify (forged, or signed with another key);
    never raises for bad input.
    """
    s = settings or get_settings()
    pairs = getaddresses([address])
    if len(pairs) != 1:
        return None
    spec = pairs[0][1].strip()
    local, at, domain = spec.rpartition("@")
    if not at or domain.lower() != verp_domain(s):
        return None
    match = _LOCAL_RE.match(local)
    if match is None:
        return None
    delivery_id = int(match.group(1))
    if delivery_id >= 2**63:
        return None
    given = match.group(2).lower()
    # The previous keys of a rotation still verify: bounces arrive days after a send.
    genuine = False
    for key in s.verification_keys:
        genuine = hmac.compare_digest(_tag(key, delivery_id), given) | genuine
    return delivery_id if genuine else None
