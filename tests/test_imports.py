"""Every module imports on its own, first, from a clean start.

An import cycle can hide behind the order in which the CLI happens to import
things, then break a worker that imports a module directly (as Celery does).
Importing each module first in a fresh interpreter proves it one module at a
time but costs a full project import per module (34 s for 120 modules).  The
same guarantee follows from two cheaper facts, checked here:

* every module imports without error (one fresh interpreter imports them all);
* the imports that run while a module body executes (module level and class
  bodies; not function bodies, not ``if TYPE_CHECKING:``) form no cycle among
  project modules.  Without such a cycle no module can ever be observed half
  initialised, whatever is imported first.

Importing ``a.b.c`` initialises the packages ``a`` and ``a.b`` first; that
implicit step is an edge only when the importing module is not itself inside
them (a package being initialised is already on its way when its submodules
run).  Naming a package explicitly (``from a.b import name``) is always an edge.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from test_layers import ROOT, project_modules


def _runtime_nodes(tree: ast.Module) -> Iterator[ast.AST]:
    """Nodes executed when the module body runs."""
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def import_edges(name: str, source: str, modules: Mapping[str, Path]) -> set[str]:
    """Project modules that running the body of ``name`` (its text ``source``) imports."""
    is_package = modules[name].name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    edges: set[str] = set()
    for node in _runtime_nodes(ast.parse(source)):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                targets.append(full if full in modules else base)
        for target in targets:
            if target in modules and target != name:
                edges.add(target)
            parts = target.split(".")
            for size in range(1, len(parts)):
                parent = ".".join(parts[:size])
                if parent in modules and parent != name and not name.startswith(parent + "."):
                    edges.add(parent)
    return edges


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def project_graph(overrides: Mapping[str, str] | None = None) -> dict[str, set[str]]:
    """The module-level import graph of the project, with some module texts replaced."""
    modules = project_modules()
    texts = {name: path.read_text(encoding="utf-8") for name, path in modules.items()}
    texts.update(overrides or {})
    return {name: import_edges(name, text, modules) for name, text in texts.items()}


def test_module_level_imports_form_no_cycle() -> None:
    assert cycles(project_graph()) == []


def test_a_planted_cycle_is_found() -> None:
    assert cycles(project_graph()) == []
    config = (ROOT / "newsletter" / "config.py").read_text(encoding="utf-8")
    paths = (ROOT / "newsletter" / "paths.py").read_text(encoding="utf-8")
    planted = {
        "newsletter.config": config + "\nfrom newsletter.paths import PACKAGE_DIR\n",
        "newsletter.paths": paths + "\nimport newsletter.config\n",
    }
    assert ["newsletter.config", "newsletter.paths"] in cycles(project_graph(planted))


def test_names_from_a_parent_package_count_but_the_implicit_parent_does_not() -> None:
    modules = project_modules()
    child = "newsletter.calendar.ics"
    implicit = import_edges(child, "from newsletter.calendar.times import x\n", modules)
    assert implicit == {"newsletter.calendar.times"}
    explicit = import_edges(child, "from newsletter.calendar import something\n", modules)
    assert explicit == {"newsletter.calendar"}
    in_function = import_edges(child, "def f():\n    import newsletter.web.app\n", modules)
    assert in_function == set()
    typing_only = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import newsletter.db\n"
    assert import_edges(child, typing_only, modules) == set()


def test_every_module_imports_in_a_fresh_interpreter() -> None:
    names = sorted(
        name
        for name in project_modules()
        # ``python -m newsletter`` runs the CLI; it is not imported as a library.
        if not name.endswith("__main__")
    )
    script = (
        "import importlib, sys, traceback\n"
        "failed = []\n"
        f"for name in {names!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception:\n"
        "        failed.append(name + ': ' + traceback.format_exc(limit=3))\n"
        "print('\\n'.join(failed))\n"
        "sys.exit(1 if failed else 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
