"""Header encoding: injection checks, a fast To encoder, and folding of constant headers.

Constant headers (From, Subject, List-Id, ...) are encoded once per template
with the standard library's policy machinery, which is thorough but slow.
Per-recipient headers use the small hand-written encoders here, which cost
a microsecond or two.
"""

from __future__ import annotations

import base64
import email.policy
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Final
from urllib.parse import quote

from newsletter.errors import NewsletterError

__all__ = [
    "HeaderInjectionError",
    "MessageError",
    "addr_spec",
    "check_value",
    "date_header_value",
    "encode_address",
    "fold_constant",
    "mime_param",
]

# RFC 5322 section 3.2.3: atext, the characters an unquoted atom may hold.
_ATEXT: Final = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-/=?^_`{|}~"
)
# Characters that never belong in an addr-spec we send to (no quoted local parts).
_ADDR_FORBIDDEN: Final = frozenset(' "(),:;<>[\\]')
# RFC 2047 section 2: an encoded-word is at most 75 characters; with the
# "=?utf-8?b?" prefix and "?=" suffix that leaves 63 for base64, so 45 octets.
_EW_OCTETS: Final = 45
_SMTP_POLICY: Final = email.policy.SMTP


class MessageError(NewsletterError):
    """A message cannot be built for this recipient or edition."""


class HeaderInjectionError(MessageError, ValueError):
    """A header value held CR or LF, which would let it add headers of its own."""


def check_value(name: str, value: str) -> str:
    """Return ``value`` unchanged; raise HeaderInjectionError if it holds CR or LF.

    RFC 5322 section 2.2: a header field ends at CRLF, so a bare CR or LF in a
    value taken from data (a name, a subject) could start a forged header.
    """
    if "\r" in value or "\n" in value:
        raise HeaderInjectionError(f"{name} header value contains CR or LF: {value!r}")
    return value


def fold_constant(name: str, value: str) -> bytes:
    """Return ``Name: value`` folded and RFC 2047-encoded, CRLF-terminated, as ASCII bytes.

    Used for headers built once per template; raises HeaderInjectionError on CR/LF.
    """
    check_value(name, value)
    header = _SMTP_POLICY.header_factory(name, value)
    folded: str = header.fold(policy=_SMTP_POLICY)
    return folded.encode("ascii")


def addr_spec(address: str) -> str:
    """Return ``address`` checked, its domain as IDNA A-labels; MessageError if unusable."""
    check_value("address", address)
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or not _ADDR_FORBIDDEN.isdisjoint(address):
        raise MessageError(f"not a usable email address: {address!r}")
    if not local.isascii():
        # RFC 6531 (SMTPUTF8) would be needed; few receivers offer it.
        raise MessageError(f"non-ASCII local part needs SMTPUTF8: {address!r}")
    if not domain.isascii():
        # RFC 5890: internationalised domains travel as A-labels.
        domain = domain.encode("idna").decode("ascii")
    if not address.isprintable():
        raise MessageError(f"control character in address: {address!r}")
    return f"{local}@{domain}"


def _encoded_words(text: str) -> list[str]:
    """Split ``text`` into RFC 2047 base64 encoded-words of at most 75 characters.

    Splits between characters, never inside a UTF-8 sequence (RFC 2047 section 5),
    and where it can just after a space, which stays inside the earlier word:
    RFC 2047 section 6.2 has decoders drop the whitespace *between* adjacent
    encoded-words.  (CPython's address parser wrongly keeps that whitespace; a
    break after a space turns its error into a doubled space, not a split word.)
    """
    words: list[str] = []
    chunk = ""
    size = 0
    for char in text:
        octets = len(char.encode("utf-8"))
        if size + octets > _EW_OCTETS:
            cut = chunk.rfind(" ") + 1
            if 0 < cut < len(chunk):
                words.append(_b_word(chunk[:cut].encode("utf-8")))
                chunk = chunk[cut:]
            else:
                words.append(_b_word(chunk.encode("utf-8")))
                chunk = ""
            size = len(chunk.encode("utf-8"))
        chunk += char
        size += octets
    if chunk:
        words.append(_b_word(chunk.encode("utf-8")))
    return words


def _b_word(octets: bytes) -> str:
    return "=?utf-8?b?" + base64.b64encode(octets).decode("ascii") + "?="


def encode_address(name: str | None, address: str) -> str:
    """Return an RFC 5322 ``name-addr`` for a header, folded with CRLF where long.

    ASCII names are sent as atoms or a quoted-string; names with non-ASCII or
    control characters, or that look like encoded-words, become RFC 2047
    encoded-words.  Raises HeaderInjectionError when the name or address
    holds CR or LF, MessageError for an unusable address.
    """
    spec = addr_spec(address)
    if not name or not name.strip():
        return spec
    check_value("display name", name)
    name = " ".join(name.split())
    if name.isascii() and name.isprintable() and "=?" not in name:
        if all(c in _ATEXT for c in name.replace(" ", "")):
            phrase = name
        else:
            # RFC 5322 section 3.2.4: quoted-string, backslash-escaping \ and ".
            phrase = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        line = f"{phrase} <{spec}>"
        return line if len(line) < 900 else f"{phrase}\r\n <{spec}>"
    return "\r\n ".join([*_encoded_words(name), f"<{spec}>"])


def mime_param(name: str, value: str) -> str:
    """Return ``;`` + folded ``name="value"`` for a MIME header.

    Non-ASCII or long values use RFC 2231 (``name*=utf-8''…``, split into
    ``name*0*``, ``name*1*``… continuations) so every line stays under 78.
    """
    check_value(name, value)
    if value.isascii() and value.isprintable() and len(value) <= 60:
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f';\r\n {name}="{escaped}"'
    encoded = quote(value, safe="")
    if len(encoded) <= 50:
        return f";\r\n {name}*=utf-8''{encoded}"
    pieces: list[str] = []
    while encoded:
        cut = 50
        # Never split a %XX escape between continuations.
        if "%" in encoded[cut - 2 : cut]:
            cut = encoded.rindex("%", 0, cut)
        pieces.append(encoded[:cut])
        encoded = encoded[cut:]
    first = f";\r\n {name}*0*=utf-8''{pieces[0]}"
    return first + "".join(f";\r\n {name}*{i}*={p}" for i, p in enumerate(pieces[1:], 1))


_date_cache: tuple[int, str] = (0, "")


def date_header_value(now: float | None = None) -> str:
    """Return an RFC 5322 date for ``now`` (default: the current time), in UTC.

    Formatting is cached per second: it is the same for every message sent in it.
    """
    global _date_cache
    second = int(time.time() if now is None else now)
    cached_second, text = _date_cache
    if cached_second != second or not text:
        text = format_datetime(datetime.fromtimestamp(second, UTC))
        _date_cache = (second, text)
    return text
