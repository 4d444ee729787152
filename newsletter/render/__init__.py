"""Render updates into responsive HTML email and plain text, once per segment.

Public API: :func:`render_edition` (see :mod:`newsletter.render.render`),
:func:`build_edition` and :func:`segment_name` (see
:mod:`newsletter.render.editions`).  ``newsletter.render.render.stats``
counts Jinja2 and premailer runs.
"""

from __future__ import annotations

from newsletter.render.editions import Edition, SectionGroup, build_edition, segment_name
from newsletter.render.render import PlaceholderError, render_edition

__all__ = [
    "Edition",
    "PlaceholderError",
    "SectionGroup",
    "build_edition",
    "render_edition",
    "segment_name",
]
