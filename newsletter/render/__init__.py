"""Render updates into responsive HTML email and plain text, once per segment.

Public API: :func:`render_edition` (see :mod:`newsletter.render.render`),
:func:`build_edition` and :func:`segment_name` (see
:mod:`newsletter.render.sections`), and :func:`warm_up` for workers.
``newsletter.render.render.stats`` counts Jinja2 and premailer runs.
"""

from __future__ import annotations

from newsletter.render.render import PlaceholderError, render_edition, warm_up
from newsletter.render.sections import Edition, SectionGroup, build_edition, segment_name

__all__ = [
    "Edition",
    "PlaceholderError",
    "SectionGroup",
    "build_edition",
    "render_edition",
    "segment_name",
    "warm_up",
]
