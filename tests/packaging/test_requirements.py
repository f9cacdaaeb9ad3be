"""requirements.txt names every distribution whose modules the service imports (the image installs nothing else)."""
from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "requirements.txt"
RUNTIME_CODE = [*sorted((ROOT / "sendmailproxy").rglob("*.py")), ROOT / "wsgi.py", ROOT / "gunicorn.conf.py"]
FIRST_PARTY = {"sendmailproxy"}


def canonical(name: str) -> str:
    """A distribution name as PEP 503 compares them: Flask-Swagger-UI == flask_swagger_ui."""
    return re.sub(r"[-_.]+", "-", name).lower()


def required_distributions() -> set[str]:
    """The names requirements.txt lists itself (option lines such as -r are not followed: list it here)."""
    lines = (line.split("#")[0].strip() for line in REQUIREMENTS.read_text().splitlines())
    return {canonical(re.match(r"[A-Za-z0-9._-]+", line)[0]) for line in lines if line and not line.startswith("-")}


def imported_modules(path: Path) -> set[str]:
    """The top-level modules a file imports anywhere (in functions too), and those dictConfig imports by name."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules.add(node.module)
        elif isinstance(node, ast.Dict):  # logging.config's {"()": "package.Factory"} and {"class": ...}
            modules.update(value.value for key, value in zip(node.keys, node.values)
                           if isinstance(key, ast.Constant) and key.value in ("()", "class")
                           and isinstance(value, ast.Constant) and isinstance(value.value, str))
    return {module.split(".")[0] for module in modules}


def test_every_third_party_import_comes_from_a_listed_distribution():
    providers = importlib.metadata.packages_distributions()
    required = required_distributions()
    unlisted = []
    for path in RUNTIME_CODE:
        for module in sorted(imported_modules(path) - FIRST_PARTY - set(sys.stdlib_module_names)):
            distributions = providers.get(module, [])
            if not required & {canonical(name) for name in distributions}:
                unlisted.append(f"{path.relative_to(ROOT)} imports {module}, from {distributions or 'nothing installed'}")
    assert not unlisted, "requirements.txt does not list what the service imports:\n" + "\n".join(unlisted)


def test_the_scan_finds_imports_in_functions_and_the_modules_dict_config_imports_by_name(tmp_path):
    source = tmp_path / "module.py"
    source.write_text("import a.b\nfrom c import d\nfrom . import e\n"
                      "def hook():\n    import f\n"
                      "LOGGING = {'()': 'g.Formatter', 'class': 'h.Handler', 'level': 'INFO'}\n")
    assert imported_modules(source) == {"a", "c", "f", "g", "h"}
