"""One error family for the whole product (see docs/architecture.md, "Errors").

``UserError`` is bad input from a person or a file: the CLI prints its message on one
line and exits 2, the web app answers 4xx.  ``NotFound`` is the user error for an id or
name that does not exist (404 on the web); ``Conflict`` is a change the thing's current
state forbids, such as pausing a finished send (409).  Anything else that escapes is a
bug: the CLI shows its traceback and the web app answers 500 with a request id.
"""

from __future__ import annotations


class NewsletterError(Exception):
    """Root of every error the product raises on purpose."""


class UserError(NewsletterError):
    """Bad input; the message names what is wrong (file, line, field) and is shown as is."""

    def to_json(self) -> object:
        """What a program is told: the message, or a structured form where the error has
        one (a rule error names the position).  The API answers it as ``detail``."""
        return str(self)


class NotFound(UserError):
    """A numbered or named thing does not exist."""


class Conflict(UserError):
    """The thing exists, but its current state forbids the change (it is finished, built in…)."""
