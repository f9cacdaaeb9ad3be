"""The send-once flow is no web code: nothing it imports, from idempotency/ down, imports Flask or werkzeug."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "sendmailproxy"
WEB = ("flask", "werkzeug", "flask_swagger_ui")


def imports(path: Path) -> set[str]:
    """Every module `path` imports (TYPE_CHECKING blocks included), by absolute name."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def source(module: str) -> Path | None:
    """The file of one of our modules (not a package's __init__, which wires and is not imported for its code)."""
    path = PACKAGE.parent.joinpath(*module.split(".")).with_suffix(".py")
    return path if path.is_file() else None


def test_idempotency_and_what_it_imports_use_no_flask():
    todo = [f"sendmailproxy.idempotency.{path.stem}" for path in (PACKAGE / "idempotency").glob("*.py")
            if path.stem != "__init__"]
    seen: dict[str, set[str]] = {}
    while todo:
        module = todo.pop()
        if module in seen or (path := source(module)) is None:
            continue
        seen[module] = imports(path)
        todo.extend(name for name in seen[module] if name.startswith("sendmailproxy."))
    assert "sendmailproxy.dispatch" in seen and "sendmailproxy.errors" in seen  # the walk reached them
    web = {module: sorted(name for name in names if name.split(".")[0] in WEB) for module, names in seen.items()}
    assert not {module: names for module, names in web.items() if names}
