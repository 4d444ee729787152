"""Body encoding for splicing: pre-encoded constant pieces, per-recipient values encoded small.

A body is kept as decoded text split at the placeholders.  Each constant piece
is quoted-printable encoded once (RFC 2045 section 6.7) and, when it does not
end a line, closed with a soft line break (``=`` CRLF) so that the next piece
starts at column 0.  Per recipient only the short values are encoded, and the
pieces are joined: the cost no longer depends on the size of the HTML.
Decoders remove soft line breaks, so the decoded body is the exact text.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
from collections.abc import Sequence
from typing import Final

from newsletter.parts import PLACEHOLDERS

__all__ = ["SplicedBody", "encode_base64", "encode_qp"]

_PLACEHOLDER_RE: Final = re.compile("|".join(re.escape(p) for p in PLACEHOLDERS))
_INDEX: Final = {placeholder: i for i, placeholder in enumerate(PLACEHOLDERS)}
_SOFT_BREAK: Final = b"=\r\n"


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def encode_qp(data: bytes) -> bytes:
    """Quoted-printable encode text ``data`` with CRLF line breaks, ending at column 0.

    ``binascii.b2a_qp`` picks LF or CRLF from the first line ending it sees, so
    the input is normalised to LF and the output's LFs (which are only ever
    line breaks: a literal LF in the data is a line break in text mode) become
    CRLF.  If the data does not end a line, a soft line break is added.

    A "." that would begin a line is written ``=2E`` (RFC 2045 section 6.7
    allows any octet encoded), so no line of the result begins with a dot:
    a message made of such bodies needs no SMTP dot-stuffing (see
    ``OutgoingMessage.dot_free``), which spares the transport a scan of every
    message for dots to double.
    """
    encoded = binascii.b2a_qp(data, quotetabs=False, istext=True, header=False)
    encoded = encoded.replace(b"\n", b"\r\n").replace(b"\n.", b"\n=2E")
    if encoded.startswith(b"."):
        encoded = b"=2E" + encoded[1:]
    if encoded and not encoded.endswith(b"\r\n"):
        encoded += _SOFT_BREAK
    return encoded


def encode_base64(data: bytes) -> bytes:
    """Base64 with 76-character lines and CRLF breaks (RFC 2045 section 6.8)."""
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


class SplicedBody:
    """A text or HTML body whose placeholders are filled per recipient.

    ``escape_html`` makes the values HTML-escaped before they go in (names like
    ``O'Brien <x>`` and URLs with ``&`` stay inert and valid in attributes).
    """

    __slots__ = ("_escape", "_pieces", "placeholders")

    def __init__(self, text: str, *, escape_html: bool) -> None:
        self._escape = escape_html
        text = _normalise_newlines(text)
        pieces: list[bytes | int] = []
        position = 0
        for match in _PLACEHOLDER_RE.finditer(text):
            if match.start() > position:
                pieces.append(encode_qp(text[position : match.start()].encode("utf-8")))
            pieces.append(_INDEX[match.group()])
            position = match.end()
        if position < len(text):
            pieces.append(encode_qp(text[position:].encode("utf-8")))
        self._pieces = tuple(pieces)
        self.placeholders = frozenset(PLACEHOLDERS[p] for p in pieces if isinstance(p, int))

    def render(self, values: Sequence[str]) -> bytes:
        """Return the encoded body with ``values`` (in ``PLACEHOLDERS`` order) spliced in.

        The result ends with CRLF (a line end or a soft line break), ready for
        the CRLF that opens the next boundary delimiter.
        """
        if self._escape:
            values = [html.escape(v, quote=True) for v in values]
        encoded = [encode_qp(_normalise_newlines(v).encode("utf-8")) for v in values]
        return b"".join(p if isinstance(p, bytes) else encoded[p] for p in self._pieces)
