"""Segment editions: the same update, ordered to speak to one segment first.

An :class:`Edition` is a list of :class:`SectionGroup` values.  For a segment
other than ``dcs`` the sections whose ``audiences`` include the segment come
first under a heading naming it ("For lead members"), then every other
section under "Also in this update".  The contract, relied on by the tests:

* nothing is dropped or duplicated: the edition's sections are a permutation
  of the update's, and each group keeps the update's relative order;
* the ``dcs`` edition is the update in its own order, in one unheaded group
  (every section is for ``dcs``, so regrouping would only add a heading);
* an untitled opening section (the update's preface, before its first
  heading) stays at the top, unheaded, whoever the reader is: it introduces
  the whole update, and moving it under a heading would make it read as part
  of a topic;
* when no section (or every section) is for the segment there is no
  "Also in this update" split: a lone heading over everything says nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from newsletter.content import Paragraph, Section, Update
from newsletter.roles import BUILTIN_ROLES

DCS = "dcs"
ALSO_HEADING = "Also in this update"

# Built-in segments: display name (from newsletter/roles.py, the one
# definition) and the heading over the segment's own sections.
BUILT_IN_SEGMENTS: dict[str, tuple[str, str]] = {
    slug: (label, f"For {label[:1].lower()}{label[1:]}") for slug, label in BUILTIN_ROLES.items()
}


@dataclass(frozen=True)
class SectionGroup:
    """Consecutive sections shown together; ``heading`` None means no group heading."""

    heading: str | None
    sections: tuple[Section, ...]
    for_segment: bool = False


@dataclass(frozen=True)
class Edition:
    """An update's sections arranged for one segment."""

    segment: str
    segment_name: str
    groups: tuple[SectionGroup, ...]

    @property
    def sections(self) -> list[Section]:
        """Every section in reading order."""
        return [section for group in self.groups for section in group.sections]

    def first_paragraph(self) -> str | None:
        """The first paragraph (else bullet) text a reader of this edition meets."""
        for section in self.sections:
            for block in section.blocks:
                if isinstance(block, Paragraph):
                    return block.text
        for section in self.sections:
            for block in section.blocks:
                if not isinstance(block, Paragraph) and block.items:
                    return block.items[0]
        return None


def segment_name(slug: str) -> str:
    """Return the display name of a segment: the built-in one, else made from the slug.

    ``"north-tyneside-staff"`` becomes ``"North tyneside staff"``.
    """
    if slug in BUILT_IN_SEGMENTS:
        return BUILT_IN_SEGMENTS[slug][0]
    words = slug.replace("_", "-").split("-")
    text = " ".join(word for word in words if word) or slug
    return text[:1].upper() + text[1:]


def segment_heading(slug: str, name: str | None = None) -> str:
    """Return the heading over a segment's own sections, e.g. "For lead members".

    A built-in segment under its built-in name gets its fixed heading; a name
    given by the organiser is used as written ("For Durham social workers"),
    and one made from the slug is lower-cased after "For".
    """
    if slug in BUILT_IN_SEGMENTS and name in (None, BUILT_IN_SEGMENTS[slug][0]):
        return BUILT_IN_SEGMENTS[slug][1]
    if name is None:
        made = segment_name(slug)
        return f"For {made[:1].lower()}{made[1:]}"
    return f"For {name}"


def build_edition(update: Update, segment: str, name: str | None = None) -> Edition:
    """Arrange ``update`` for ``segment`` (see the module docstring for the rules)."""
    display = name or segment_name(segment)
    sections = list(update.sections)
    if segment == DCS:
        return Edition(segment, display, (SectionGroup(None, tuple(sections)),))
    preface: list[Section] = []
    while len(preface) < len(sections) and sections[len(preface)].heading is None:
        preface.append(sections[len(preface)])
    rest = sections[len(preface) :]
    mine = tuple(s for s in rest if segment in s.audiences)
    others = tuple(s for s in rest if segment not in s.audiences)
    groups: list[SectionGroup] = []
    if preface:
        groups.append(SectionGroup(None, tuple(preface)))
    if not mine:
        groups.append(SectionGroup(None, others))
    else:
        groups.append(SectionGroup(segment_heading(segment, name), mine, for_segment=True))
        if others:
            groups.append(SectionGroup(ALSO_HEADING, others))
    return Edition(segment, display, tuple(g for g in groups if g.sections))
