"""Where the package's shipped files live, installed or in a source checkout.

The mandated layout keeps ``templates/`` at the repository's top level; the
wheel copies it into ``newsletter/templates`` (see ``pyproject.toml``).  So a
non-editable install finds it beside this module, and a source checkout or an
editable install finds it one level up.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
DATA_DIR = PACKAGE_DIR / "data"
SAMPLES_DIR = DATA_DIR / "samples"


def templates_dir() -> Path:
    """Return the templates folder; raises FileNotFoundError when neither exists."""
    for candidate in (PACKAGE_DIR / "templates", PACKAGE_DIR.parent / "templates"):
        if (candidate / "email").is_dir():
            return candidate
    raise FileNotFoundError(f"no templates folder beside {PACKAGE_DIR}")
