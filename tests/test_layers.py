"""Layers import only downward (docs/architecture.md, "Layers").

``LAYERS`` is the one place the layers are written down, bottom first.  A
module may import from its own layer and from layers below it; an import of
a higher layer (anywhere in the file, function-level imports included) fails
the test with the file, line and the two layers named.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Bottom first.  Each entry names modules or packages (a package covers its
# submodules); every project module must be in exactly one layer.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "foundation",
        (
            "newsletter.errors",
            "newsletter.config",
            "newsletter.paths",
            "newsletter.parts",
            "newsletter.jsonfields",
            "newsletter.events.event",
            "newsletter.content",
            "newsletter.roles",
            "newsletter.tokens",
            "newsletter.models",
            "newsletter.db",
            "newsletter.migrate",
            "newsletter.outbox_index",
            "newsletter.throttles",
            "newsletter.display",
        ),
    ),
    (
        "formats",
        (
            "newsletter.ingest",
            "newsletter.render",
            "newsletter.calendar",
            "newsletter.message",
            "newsletter.transports",
        ),
    ),
    (
        "domain",
        (
            "newsletter.subscribers",
            "newsletter.suppressions",
            "newsletter.segment_rules",
            "newsletter.segments",
            "newsletter.updates",
            "newsletter.corrections",
            "newsletter.editions",
            "newsletter.sends",
            "newsletter.deliveries",
            "newsletter.events",
            "newsletter.organisers",
            "newsletter.subscriber_bulk",
            "newsletter.subscriber_csv",
            "newsletter.imports",
            "newsletter.bounces",
            "newsletter.subscriber_record",
            "newsletter.send_review",
            "newsletter.delivery_report",
        ),
    ),
    (
        "dispatch",
        ("newsletter.dispatch", "newsletter.single_message", "newsletter.subscription_mail"),
    ),
    (
        "interfaces",
        ("newsletter.web", "newsletter.cli", "newsletter.demo", "newsletter.__main__", "workers"),
    ),
)


def layer_of(module: str) -> int | None:
    """The index of ``module``'s layer (longest matching prefix), None if unlisted."""
    best: tuple[int, int] | None = None
    for index, (_, members) in enumerate(LAYERS):
        for member in members:
            matches = module == member or module.startswith(member + ".")
            if matches and (best is None or len(member) > best[1]):
                best = (index, len(member))
    return None if best is None else best[0]


def imported_modules(source: str) -> list[tuple[int, str]]:
    """(line, module) for every absolute import of a project module in ``source``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            # ``from newsletter import sends`` imports the module newsletter.sends.
            candidates = [n for n in names if layer_of(n) is not None] or [node.module]
            found.extend((node.lineno, name) for name in candidates)
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return [(line, name) for line, name in found if name.split(".")[0] in ("newsletter", "workers")]


def upward_imports(module: str, source: str) -> list[str]:
    """Each import in ``source`` (the text of ``module``) that reaches a higher layer."""
    own = layer_of(module)
    assert own is not None, f"{module} is in no layer: add it to LAYERS"
    problems = []
    for line, name in imported_modules(source):
        target = layer_of(name)
        if target is not None and target > own:
            problems.append(
                f"{module} (line {line}, {LAYERS[own][0]}) imports {name} ({LAYERS[target][0]})"
            )
    return problems


def project_modules() -> dict[str, Path]:
    """Every project module by dotted name (Alembic's scripts are not imported modules)."""
    modules = {}
    for package in ("newsletter", "workers"):
        for path in (ROOT / package).rglob("*.py"):
            relative = path.relative_to(ROOT).with_suffix("")
            if "migrations" in relative.parts:
                continue
            parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
            modules[".".join(parts)] = path
    return modules


def test_every_module_is_in_a_layer() -> None:
    unlisted = [
        name for name in project_modules() if name != "newsletter" and layer_of(name) is None
    ]
    assert unlisted == []


def test_no_module_imports_from_a_higher_layer() -> None:
    problems = []
    for name, path in sorted(project_modules().items()):
        if name == "newsletter":  # the package's own __init__ re-exports nothing
            continue
        problems.extend(upward_imports(name, path.read_text(encoding="utf-8")))
    assert problems == []


def test_a_planted_upward_import_is_caught() -> None:
    real = (ROOT / "newsletter" / "models.py").read_text(encoding="utf-8")
    assert upward_imports("newsletter.models", real) == []
    planted = real + "\n\ndef _late() -> None:\n    from newsletter.web.app import create_app\n"
    problems = upward_imports("newsletter.models", planted)
    assert len(problems) == 1
    assert "newsletter.models" in problems[0] and "newsletter.web.app" in problems[0]
    assert "(foundation)" not in problems[0].split("imports")[1]
    assert upward_imports("newsletter.dispatch.queue", "from workers.celery_app import app") != []
    assert upward_imports("newsletter.sends", "from newsletter import deliveries") == []
