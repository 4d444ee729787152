"""Bytes to text, with the checks that turn bad files into :class:`IngestError`.

Contract of :func:`decode`: returns the text (line endings kept as found) and
a list of warnings, or raises IngestError for an empty file, a file over
:data:`MAX_BYTES`, or binary data.  Invalid UTF-8 is not an error: updates
copied on Windows often arrive as cp1252 (Windows-1252), whole or in part.

* A file with any valid multi-byte UTF-8 character is UTF-8: a genuine
  Windows-1252 text almost never spells one (it would read "â€™"), so only
  its invalid bytes are read as Windows-1252 — a ’ pasted from an old Word
  document — with a warning naming the lines repaired, and the good
  characters around them stay good.
* A file whose every non-ASCII byte is invalid UTF-8 is Windows-1252
  throughout, with a warning.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from newsletter.ingest.errors import IngestError

#: Largest file accepted: 1 MB (1 048 576 bytes).  The longest real update is a
#: few kilobytes; anything this big is a wrong file, not an update.
MAX_BYTES = 1024 * 1024

# Share of characters that may be control/unassigned before we call it binary.
_MAX_NON_TEXT_SHARE = 0.05
# Whitespace controls that plain text legitimately contains.
_TEXT_CONTROLS = frozenset("\t\n\r\f\v")
_ASCII_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def read_file(path: Path) -> tuple[str, list[str]]:
    """Read and decode ``path``; raises IngestError when unreadable or bad (see :func:`decode`)."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise IngestError(path, _too_big(size))
        data = path.read_bytes()
    except IngestError:
        raise
    except OSError as exc:
        raise IngestError(path, f"cannot read file: {exc.strerror or exc}") from exc
    return decode(data, str(path))


def decode(data: bytes, name: str) -> tuple[str, list[str]]:
    """Decode an update's bytes; raises IngestError naming ``name`` and the reason."""
    if len(data) > MAX_BYTES:
        raise IngestError(name, _too_big(len(data)))
    if not data.strip():
        raise IngestError(name, "file is empty")
    warnings: list[str] = []
    # Notepad's "Unicode" is UTF-16 with a byte order mark; its NUL bytes must
    # not make it look binary.
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise IngestError(name, "binary data: broken UTF-16") from exc
        warnings.append("decoded as UTF-16 (byte order mark found)")
    elif b"\x00" in data:
        raise IngestError(name, "binary data: the file contains NUL bytes")
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            text = _decode_mixed(data, exc.start, warnings)
    check_text(text, name)
    return text, warnings


_ESCAPED = re.compile(r"[\udc80-\udcff]")
#: Most repaired lines listed by number in the warning.
_MAX_LINES_LISTED = 10


def _decode_mixed(data: bytes, first_bad: int, warnings: list[str]) -> str:
    """Decode bytes that are not all UTF-8 (see the module docstring)."""
    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    escaped = body.decode("utf-8", errors="surrogateescape")
    bad = [m.start() for m in _ESCAPED.finditer(escaped)]
    good = len(_NON_ASCII.findall(escaped)) - len(bad)
    if good == 0:
        # cp1252 leaves five bytes undefined; replace them rather than fail,
        # and let the non-text check decide whether it is binary.
        warnings.append(
            f"invalid UTF-8 at byte {first_bad}, decoded as cp1252 (Windows-1252) throughout"
        )
        return data.decode("cp1252", errors="replace")
    lines: list[int] = []
    line, scanned = 1, 0
    for at in bad:
        line += escaped.count("\n", scanned, at)
        scanned = at
        if not lines or lines[-1] != line:
            lines.append(line)
    listed = ", ".join(str(n) for n in lines[:_MAX_LINES_LISTED])
    more = f" and {len(lines) - _MAX_LINES_LISTED} more" if len(lines) > _MAX_LINES_LISTED else ""
    warnings.append(
        f"invalid UTF-8 on line{'s' if len(lines) > 1 else ''} {listed}{more}:"
        f" {len(bad)} byte{'s' if len(bad) > 1 else ''} read as cp1252 (Windows-1252),"
        " the rest as UTF-8"
    )
    return _ESCAPED.sub(_repair, escaped)


def _repair(m: re.Match[str]) -> str:
    return bytes([ord(m.group(0)) - 0xDC00]).decode("cp1252", errors="replace")


def check_text(text: str, name: str) -> None:
    """Raise IngestError unless ``text`` is non-empty, within size and mostly text."""
    if len(text) > MAX_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise IngestError(name, _too_big(len(text.encode("utf-8", "surrogatepass"))))
    if not text.strip():
        raise IngestError(name, "file is empty")
    if "\x00" in text:
        raise IngestError(name, "binary data: the text contains NUL characters")
    # ASCII controls by regex, then the category lookup only for non-ASCII
    # characters: per-character lookups over the whole text cost ~0.3 µs each.
    bad = len(_ASCII_CONTROLS.findall(text))
    bad += sum(1 for ch in _NON_ASCII.findall(text) if _is_non_text(ch))
    if bad > max(1, len(text) * _MAX_NON_TEXT_SHARE):
        raise IngestError(name, f"binary data: {bad} of {len(text)} characters are not text")


def _is_non_text(ch: str) -> bool:
    if ch in _TEXT_CONTROLS:
        return False
    if ch == "\ufffd":
        return True
    # Cc: control characters; Cs: lone surrogates; Cn: unassigned code points.
    return unicodedata.category(ch) in ("Cc", "Cs", "Cn")


def _too_big(size: int) -> str:
    return f"file is too large ({size} bytes; the limit is 1 MB, {MAX_BYTES} bytes)"
