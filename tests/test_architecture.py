"""The package's shape stays as docs/design.md draws it: no import cycles, layers that import downward only,
no module too big to read.

The import graph is read from the source (``ast``): imports inside functions count, since they run
too; imports under ``if TYPE_CHECKING:`` do not (they never run). Importing a submodule also runs its
parent package's ``__init__``, which is not counted as an edge (the package files are tables of contents).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "recordkit"
MAX_LINES = 800


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id in ("TYPE_CHECKING", "_TYPE_CHECKING")) or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    """Every ``recordkit…`` name imported at run time, resolved to the module it names."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            for other in node.orelse:
                yield from _imports(ast.Module(body=[other], type_ignores=[]), module, is_package)
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".") if is_package else module.split(".")[:-1]
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, base] if base else parts)
            for alias in node.names:
                yield f"{base}.{alias.name}"  # a submodule, or a name in ``base`` (resolved below)
                yield base
        yield from _imports(node, module, is_package)


def import_graph() -> dict[str, set[str]]:
    """module → the package's modules it imports at run time."""
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        found = set(_imports(ast.parse(path.read_text(encoding="utf-8")), name, path.name == "__init__.py"))
        # ``from recordkit.x import y``: y is a submodule when one exists, else a name in x.
        graph[name] = {dep for dep in found if dep in paths and dep != name}
        graph[name] -= {dep for dep in graph[name] if any(other.startswith(dep + ".") for other in graph[name])}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for dep in sorted(graph[node]):
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in on_stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_imports_inside_functions_and_skips_type_checking() -> None:
    """The checker itself: a function-level import is an edge, a TYPE_CHECKING one is not."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from recordkit._store import Store\n"
        "def f():\n    from recordkit.read.records import Records\n"
    )
    found = set(_imports(ast.parse(source), "recordkit.runs.run", False))
    assert "recordkit.read.records" in found
    assert "recordkit._store" not in found
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles (break them by passing objects down, not importing up): " + "; ".join(
        " <-> ".join(component) for component in found
    )


# Each layer may import only from the layers listed (and from itself). A module not matched by any
# prefix is a facade (the Store, the API, the CLI...) and may import anything below it.
LAYERS: dict[str, tuple[str, ...]] = {
    "recordkit._exceptions": (),
    "recordkit._settings": (),
    "recordkit._values": ("recordkit._exceptions",),
    "recordkit._names": ("recordkit._exceptions",),
    "recordkit._deps": ("recordkit._exceptions",),
    "recordkit._atomic": ("recordkit._exceptions",),
    "recordkit.backends": ("recordkit._values", "recordkit._exceptions", "recordkit._settings", "recordkit._deps",
                           "recordkit._atomic"),
    "recordkit.capture": ("recordkit._exceptions", "recordkit._values", "recordkit._deps", "recordkit._settings"),
    "recordkit.runs.meta": ("recordkit._exceptions", "recordkit._values", "recordkit._atomic", "recordkit.backends",
                            "recordkit.capture"),
    "recordkit._journal_values": ("recordkit._exceptions", "recordkit._values"),
    "recordkit._journal": ("recordkit._exceptions", "recordkit.backends", "recordkit._journal_values"),
    "recordkit._recovery": ("recordkit._exceptions", "recordkit._journal", "recordkit.backends"),
    "recordkit._writer": ("recordkit._exceptions", "recordkit._settings", "recordkit._journal", "recordkit.backends"),
    "recordkit.runs": ("recordkit._values", "recordkit._exceptions", "recordkit._names", "recordkit._deps",
                       "recordkit._atomic", "recordkit._settings", "recordkit._writer", "recordkit._journal",
                       "recordkit.backends", "recordkit.capture", "recordkit.runs.meta", "recordkit.runs.lifecycle",
                       "recordkit.runs.events", "recordkit.runs.files", "recordkit.runs.handle"),
    # The Run facade reads through read/ (run.records, run.plot); its features never do.
    "recordkit.runs.run": ("recordkit._", "recordkit.backends", "recordkit.capture", "recordkit.runs",
                           "recordkit.read", "recordkit.media"),
    # Starting runs (plainly, or in special ways) builds on the facade.
    "recordkit.runs.starting": ("recordkit._", "recordkit.backends", "recordkit.capture", "recordkit.runs"),
    "recordkit.runs.resume": ("recordkit._", "recordkit.backends", "recordkit.runs"),
    "recordkit.runs.distributed": ("recordkit._", "recordkit.backends", "recordkit.capture", "recordkit.runs"),
    "recordkit.sinks": ("recordkit._values", "recordkit._exceptions", "recordkit._deps", "recordkit._formats",
                        "recordkit.backends", "recordkit.runs.meta", "recordkit.runs.harvest"),
    # Media values and the writer's media step store blobs as attachments do.
    "recordkit.media": ("recordkit._exceptions", "recordkit._values", "recordkit._deps", "recordkit.backends",
                        "recordkit.runs.files"),
    "recordkit.read": ("recordkit._", "recordkit.backends", "recordkit.runs.meta", "recordkit.runs.events",
                       "recordkit.runs.files", "recordkit.runs.liveness", "recordkit.runs.lifecycle",
                       "recordkit.sinks.base", "recordkit.capture", "recordkit.read"),
}
# What no module below the facades may import: the facades themselves.
FACADES = ("recordkit._store", "recordkit._api", "recordkit.cli", "recordkit._demo", "recordkit._report",
           "recordkit.integrations")


def _allowed(module: str, dep: str) -> bool:
    rule = max((prefix for prefix in LAYERS if module == prefix or module.startswith(prefix + ".")),
               key=len, default=None)
    if rule is None:
        return True
    if dep == rule or dep.startswith(rule + "."):
        return True
    return any(dep == allowed or dep.startswith(allowed) for allowed in LAYERS[rule]) and not dep.startswith(
        FACADES
    )


def test_layers_import_downward_only() -> None:
    wrong = sorted(
        f"{module} -> {dep}"
        for module, deps in import_graph().items()
        for dep in deps
        if not _allowed(module, dep)
    )
    assert not wrong, "imports against the layering of docs/design.md:\n" + "\n".join(wrong)


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_too_long_to_read(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(PACKAGE)} has {lines} lines; split it by job (at most {MAX_LINES})"
