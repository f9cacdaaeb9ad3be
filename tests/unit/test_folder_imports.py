"""The arrows between the repository's top folders: tests -> testkit, bench -> testkit, tests -> bench, never back."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# What each folder (or runtime file) must never import; its own package and everything else is fine.
NEVER = {
    "sendmailproxy": {"tests", "testkit", "bench", "fakeproviders"},  # the image holds sendmailproxy/ alone
    "wsgi.py": {"tests", "testkit", "bench", "fakeproviders"},
    "gunicorn.conf.py": {"tests", "testkit", "bench", "fakeproviders"},
    "fakeproviders": {"tests", "testkit", "bench"},
    "testkit": {"tests", "bench"},
    "bench": {"tests"},
}


def imported_packages(path: Path) -> set[str]:
    """The top-level package of every import in a module, function-level imports included."""
    packages = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            packages |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            packages.add(node.module.split(".")[0])
    return packages


@pytest.mark.parametrize("where", list(NEVER))
def test_no_import_goes_against_the_arrows(where):
    modules = [ROOT / where] if where.endswith(".py") else sorted((ROOT / where).rglob("*.py"))
    assert modules, f"nothing to check under {where}"
    wrong = {str(path.relative_to(ROOT)): sorted(imported_packages(path) & NEVER[where]) for path in modules}
    assert not {path: names for path, names in wrong.items() if names}
