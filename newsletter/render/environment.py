"""The Jinja2 environment over ``templates/email``.

Autoescaping is on for HTML (and for any template whose type is unknown) and
off for ``.txt`` templates, where ``&`` must stay ``&``.  Content is
untrusted text: nothing in the templates marks it ``|safe``, so ``<script>``
and ``onerror=`` arrive in the HTML as visible, inert text.
``StrictUndefined`` turns a misspelt variable into an error at render time
instead of a silently empty paragraph in thousands of inboxes.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from newsletter.paths import templates_dir
from newsletter.render import formatting


def email_templates_dir() -> Path:
    """Return ``templates/email``; raises FileNotFoundError when it is missing."""
    return templates_dir() / "email"


@lru_cache(maxsize=4)
def email_environment(directory: Path | None = None) -> Environment:
    """Return the (cached) environment for ``directory``, by default ``templates/email``.

    Filters: ``wrap`` and ``underline`` lay out the text part (78 columns),
    ``squash`` collapses whitespace.
    """
    env = Environment(
        loader=FileSystemLoader(str(directory or email_templates_dir())),
        autoescape=select_autoescape(
            enabled_extensions=("html", "htm", "xml"),
            disabled_extensions=("txt",),
            default_for_string=True,
            default=True,
        ),
        undefined=StrictUndefined,
        # Block tags on lines of their own leave no blank lines behind: the
        # text part's layout is whitespace, so it must be exactly as written.
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["wrap"] = formatting.wrap
    env.filters["underline"] = formatting.underline
    env.filters["squash"] = formatting.squash
    return env
