"""Imports point one way: no module of aimlchat imports, however late, one that imports
it back. Every `import` counts — at the top, inside a function, or under TYPE_CHECKING
(a type is a dependency too; a lazy import only hides a cycle, it does not break it)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import aimlchat

PACKAGE = Path(aimlchat.__file__).parent


def _modules(root: Path) -> dict[str, Path]:
    """Every module under `root` by its dotted name (a package by its own name)."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imported(name: str, path: Path, modules: dict[str, Path]) -> Iterator[str]:
    """The modules of `modules` that `name` (at `path`) imports anywhere in its text."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_bytes(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # `from . import x`, `from ..a import b`
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            for alias in node.names:
                if f"{base}.{alias.name}" in modules:  # `from pkg import module`
                    yield f"{base}.{alias.name}"
                elif base in modules:  # `from module import name`
                    yield base


def import_graph(root: Path) -> dict[str, set[str]]:
    modules = _modules(root)
    return {name: set(_imported(name, path, modules)) - {name} for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(groups)


def _describe(group: list[str], graph: dict[str, set[str]]) -> str:
    members = set(group)
    edges = [f"{a} -> {b}" for a in group for b in sorted(graph[a] & members)]
    return "; ".join(edges)


def test_no_module_imports_one_that_imports_it_back():
    graph = import_graph(PACKAGE)
    found = [_describe(group, graph) for group in cycles(graph)]
    assert not found, "import cycles:\n" + "\n".join(found)


def test_the_scan_sees_a_cycle_made_by_a_late_or_type_only_import(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.sub import b\n")
    (pkg / "sub" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..c import C\n"
    )
    (pkg / "c.py").write_text("def f():\n    import pkg.a\n")
    (pkg / "d.py").write_text("from . import a\n")  # into the cycle, not part of it
    graph = import_graph(pkg)
    assert cycles(graph) == [["pkg.a", "pkg.c", "pkg.sub.b"]]
    assert (
        _describe(cycles(graph)[0], graph)
        == "pkg.a -> pkg.sub.b; pkg.c -> pkg.a; pkg.sub.b -> pkg.c"
    )
