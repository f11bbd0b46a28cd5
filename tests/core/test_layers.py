"""The layers: `webapp/core` imports nothing above it, and the domain packages never
import the adapters (`webapp/web`, `webapp/cli`) that call them."""

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
            if node.module == "webapp":  # `from webapp import web`, not `__version__`
                found.update(
                    f"webapp.{alias.name}" for alias in node.names if not alias.name.startswith("_")
                )
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


ADAPTERS = ("webapp.web", "webapp.cli")
NOT_DOMAIN = {"core", "web", "cli", "__pycache__"}


def test_domain_packages_do_not_import_the_adapters() -> None:
    packages = sorted(
        path
        for path in (ROOT / "webapp").iterdir()
        if path.is_dir() and path.name not in NOT_DOMAIN and (path / "__init__.py").exists()
    )
    assert {"campaigns", "prospects", "outbound", "deliverability"} <= {p.name for p in packages}
    above: dict[str, list[str]] = {}
    for package in packages:
        for path in sorted(package.rglob("*.py")):
            names = [
                name
                for name in imported_modules(path.read_text())
                if name in ADAPTERS or name.startswith(tuple(f"{a}." for a in ADAPTERS))
            ]
            if names:
                above[str(path.relative_to(ROOT))] = sorted(names)
    assert above == {}
