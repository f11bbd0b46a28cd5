"""`webapp/core` is the bottom layer: it imports nothing from the packages built on it."""

from __future__ import annotations

import ast

from tests.support.paths import ROOT


def imported_modules(source: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_core_imports_only_core_and_the_package_version() -> None:
    above: dict[str, list[str]] = {}
    for path in sorted((ROOT / "webapp" / "core").rglob("*.py")):
        names = [
            name
            for name in imported_modules(path.read_text())
            if name.startswith("webapp")
            and name != "webapp"  # the root package, for __version__
            and not name.startswith("webapp.core")
        ]
        if names:
            above[str(path.relative_to(ROOT))] = sorted(names)
    assert above == {}
