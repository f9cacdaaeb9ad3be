"""The import graph of sendmailproxy/: no cycle, and no provider module importing the layers built on top of it.

Every import counts, those under `if TYPE_CHECKING:` and inside functions too: a guard hides a circle, it does
not remove it. `import a.b` and `from a.b import x` are edges to module `a.b`, or to `a.b.x` when `x` is a
submodule; a name imported from a package is an edge to its `__init__`. Run this file to print the graph's
cycles and upward imports.
"""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "sendmailproxy"
# What the adapters are built into: a provider module importing one of these points upward.
ABOVE_PROVIDERS = ("sendmailproxy", "sendmailproxy.config", "sendmailproxy.service", "sendmailproxy.api")


def modules(package: Path) -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name, for its `__init__`)."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The modules of `known` that module `name` imports, anywhere in its file."""
    is_package = path.name == "__init__.py"
    edges = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            edges.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's own package, up one per extra dot
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                edges.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {edge for edge in edges if edge in known and edge != name}


def graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    known = modules(package)
    return {name: imports(name, path, known) for name, path in known.items()}


def circles(edges: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan): each module of one reaches the others."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def connect(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges[node]):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return components


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each circle, as the path of imports from its first module back to it."""
    return [_path_around(sorted(circle)[0], circle, edges) for circle in circles(edges)]


def _path_around(start: str, component: set[str], edges: dict[str, set[str]]) -> list[str]:
    # Breadth first from start back to start, inside the component: the shortest cycle through start.
    previous, frontier = {}, [start]
    while frontier:
        node = frontier.pop(0)
        for target in sorted(edges[node] & component):
            if target == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [start, *reversed(path[:-1]), start] if len(path) > 1 else [start, node, start]
            if target not in previous:
                previous[target] = node
                frontier.append(target)
    raise AssertionError(f"no cycle through {start}")


def upward(edges: dict[str, set[str]]) -> list[str]:
    """Each import from a provider module into the layers that are built from the providers."""
    return [f"{name} -> {target}" for name, targets in sorted(edges.items())
            if name == "sendmailproxy.providers" or name.startswith("sendmailproxy.providers.")
            for target in sorted(targets) if target in ABOVE_PROVIDERS]


def test_the_package_has_no_import_cycle():
    edges = graph()
    found = [f"{' -> '.join(cycle)} (the circle holds {', '.join(sorted(circle))})"
             for cycle, circle in zip(cycles(edges), circles(edges))]
    assert found == [], "import cycles: " + "; ".join(found)


def test_no_provider_module_imports_what_is_built_from_the_providers():
    assert upward(graph()) == []


def test_the_graph_sees_every_kind_of_import_and_names_the_cycle(tmp_path):
    # A guarded import, a function-local one and a relative one: each still closes the circle.
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("VERSION = '1'\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.sub import b\n")
    (package / "sub" / "b.py").write_text("def f():\n    from .c import g\n")
    (package / "sub" / "c.py").write_text("import pkg.a\nfrom pkg import VERSION\n")

    edges = graph(package)

    assert edges == {"pkg": set(), "pkg.sub": set(), "pkg.a": {"pkg.sub.b"}, "pkg.sub.b": {"pkg.sub.c"},
                     "pkg.sub.c": {"pkg.a", "pkg"}}
    assert cycles(edges) == [["pkg.a", "pkg.sub.b", "pkg.sub.c", "pkg.a"]]


if __name__ == "__main__":
    edges = graph()
    print("cycles:", *[" -> ".join(cycle) for cycle in cycles(edges)] or ["none"], sep="\n  ")
    print("upward imports:", *upward(edges) or ["none"], sep="\n  ")
