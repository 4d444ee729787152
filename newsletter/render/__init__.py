"""Render updates into responsive HTML email and plain text, once per segment.

Public API: :func:`render_edition` and :func:`warm_up` (see
:mod:`newsletter.render.render`), :func:`render_subject` and
:func:`check_content` (see :mod:`newsletter.render.subject`),
:func:`build_edition` and :func:`segment_name` (see
:mod:`newsletter.render.sections`).  ``newsletter.render.render.stats``
counts Jinja2 and premailer runs.

The HTML renderer (premailer, lxml, cssutils) is imported on first use of
its names, so a process that needs only subjects and sections (the CLI's
send review) does not load it (docs/performance.md, "Time to first message").
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from newsletter.render.sections import Edition, SectionGroup, build_edition, segment_name
from newsletter.render.subject import PlaceholderError, check_content, render_subject

if TYPE_CHECKING:
    from newsletter.render.render import render_edition, warm_up

__all__ = [
    "Edition",
    "PlaceholderError",
    "SectionGroup",
    "build_edition",
    "check_content",
    "render_edition",
    "render_subject",
    "segment_name",
    "warm_up",
]

_RENDERER = ("render_edition", "warm_up")


def __getattr__(name: str) -> Any:
    if name in _RENDERER:
        return getattr(importlib.import_module("newsletter.render.render"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
