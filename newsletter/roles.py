"""Role names: every spelling organisers use, reduced to one slug.

"DCS" and "Director of Children's Services" are both ``dcs``; "Lead Member"
is ``lead-member``; "Workforce Lead" is ``workforce-lead``; any other role is
slugified ("Head of Virtual School" → ``head-of-virtual-school``).
"""

from __future__ import annotations

import re
import unicodedata

from newsletter.errors import UserError

# The built-in roles and their display names, defined here only: the built-in
# segments (newsletter/segments.py) and the edition headings
# (newsletter/render/sections.py) are made from this table.
BUILTIN_ROLES: dict[str, str] = {
    "dcs": "Directors of children's services",
    "lead-member": "Lead members",
    "workforce-lead": "Workforce leads",
}

# Spellings seen in the network's lists, after slugifying, mapped to the slug.
_ALIASES: dict[str, str] = {
    "dcs": "dcs",
    "dcss": "dcs",
    "director-of-childrens-services": "dcs",
    "directors-of-childrens-services": "dcs",
    "director-childrens-services": "dcs",
    "director-of-children-s-services": "dcs",
    "lead-member": "lead-member",
    "lead-members": "lead-member",
    "lead-member-for-childrens-services": "lead-member",
    "lead-member-for-children": "lead-member",
    "workforce-lead": "workforce-lead",
    "workforce-leads": "workforce-lead",
    "workforce-development-lead": "workforce-lead",
}


# Slugs are stored in a 100-character column (``subscriber_roles.role``);
# PostgreSQL refuses anything longer, so a longer name is bad input, not a crash.
MAX_ROLE_LENGTH = 100


class RoleError(UserError, ValueError):
    """A role name with nothing to make a role of, or too long to be one."""


def slugify(text: str) -> str:
    """Lower-case ASCII words joined by hyphens; apostrophes vanish ("children's" → "childrens")."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    ascii_text = re.sub(r"['’`]", "", ascii_text.lower())
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")


def normalise_role(name: str) -> str:
    """Return the role slug for ``name``; raises RoleError (a ValueError) for an empty or
    over-long name (a slug of more than :data:`MAX_ROLE_LENGTH` characters)."""
    slug = slugify(name.replace("’", "'"))
    if not slug:
        raise RoleError(f"role {name!r} has no letters or digits")
    if len(slug) > MAX_ROLE_LENGTH:
        raise RoleError(f"a role name is at most {MAX_ROLE_LENGTH} characters")
    return _ALIASES.get(slug, slug)


def parse_roles(text: str) -> list[str]:
    """Split a ``;``-separated roles cell into unique slugs, in order."""
    roles: list[str] = []
    for part in text.split(";"):
        if part.strip():
            slug = normalise_role(part)
            if slug not in roles:
                roles.append(slug)
    return roles
