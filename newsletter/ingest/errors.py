"""The one error ingest raises for bad input.

Contract: every failure to read an update — empty file, binary data, a file
over the size limit, malformed Markdown front matter or JSON, Markdown nested
too deep to read, a malformed regions or audience rules file — surfaces as
:class:`IngestError` (a title that cannot be placed is only a warning).
Callers (the CLI, the web upload) catch this one type, print ``str(exc)``
("FILE: reason") and store nothing.
"""

from __future__ import annotations

from pathlib import Path

from newsletter.errors import UserError


class IngestError(UserError, ValueError):
    """Bad input to ingest; ``str()`` is ``"FILE: reason"``.

    A :class:`~newsletter.errors.UserError` (still a ValueError for callers
    written before the error family).

    ``path`` is the file name (or the source name given to ``parse_text``) and
    ``reason`` a sentence an organiser can act on, without the file name.
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self) -> tuple[type[IngestError], tuple[str, str]]:
        # The default pickling passes the formatted message as the only
        # argument, which does not fit __init__; keep the two fields instead.
        return (type(self), (self.path, self.reason))


class AudienceRulesError(IngestError):
    """The audience rules file is malformed; ``reason`` names the entry at fault."""
