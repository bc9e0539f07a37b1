"""A module's private (``_name``) names stay inside it: no module of the core or the apps imports
another one's. Import-linter checks which modules may import which; this checks the names."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.pure  # no server: runs with -m "not integration"

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("saas", "audit", "files", "usage", "exports", "websessions", "tenants", "products", "orders",
            "webhooks", "webhook_verifier")


def _module_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_from(node: ast.ImportFrom, module: str, path: Path) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[:len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def private_imports() -> set[tuple[str, str]]:
    found = set()
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            module = _module_of(path)
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.ImportFrom):
                    continue
                source = _imported_from(node, module, path)
                if source.split(".")[0] not in PACKAGES or source == module:
                    continue
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        found.add((str(path.relative_to(ROOT)), alias.name))
    return found


def test_no_module_imports_another_modules_private_names():
    assert private_imports() == set()


def test_the_check_sees_a_private_import(tmp_path, monkeypatch):
    """The check itself: a relative import of a sibling's private name is found."""
    package = tmp_path / "tenants"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("_secret = 1\n")
    (package / "b.py").write_text("from .a import _secret\n")
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    monkeypatch.setitem(globals(), "PACKAGES", ("tenants",))
    assert private_imports() == {("tenants/b.py", "_secret")}
