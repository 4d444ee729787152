"""Every module imports on its own, first, from a clean start.

An import cycle can hide behind the order in which the CLI happens to import
things, then break a worker that imports a module directly (as Celery does).
Each module is imported here with no project module loaded before it.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import pytest

import newsletter
import workers

PACKAGES = (newsletter, workers)


def _module_names() -> list[str]:
    names = []
    for package in PACKAGES:
        names.append(package.__name__)
        for info in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + "."):
            # Alembic runs env.py and the versions as scripts, never as imports.
            if ".migrations." not in info.name and not info.name.endswith("__main__"):
                names.append(info.name)
    return sorted(names)


def _forget_project_modules() -> None:
    for name in list(sys.modules):
        if name.split(".")[0] in ("newsletter", "workers"):
            del sys.modules[name]


@pytest.mark.parametrize("name", _module_names())
def test_module_imports_first(name: str) -> None:
    saved = dict(sys.modules)
    _forget_project_modules()
    try:
        importlib.import_module(name)
    finally:
        # Put the original modules back so other tests keep their objects.
        _forget_project_modules()
        sys.modules.update(
            {k: v for k, v in saved.items() if k.split(".")[0] in ("newsletter", "workers")}
        )
