"""The packages' modules import in one direction: no import circles among the modules of the
SDK, the service or the workers, nor among their subpackages (``zoadamm_worker.attack`` and the
worker's own modules, say); in the service, the store below the domain (no arrow from ``store``
up into ``domain``), and the domain free of the HTTP layer and of Prometheus (it reports through
``Sessions``'s telemetry interface).  Read from the source with ``ast``: every import counts,
also those inside functions and under ``TYPE_CHECKING``."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = "zoadamm_service"
PACKAGES = ("zoadamm", "zoadamm_service", "zoadamm_worker")


def _root(package: str) -> Path:
    return Path(importlib.import_module(package).__file__).parent  # type: ignore[arg-type]


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str) -> set[str]:
    """The modules (of this package and outside it) that the module at ``path`` imports."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:  # `from . import trace` names a module; `from .x import y` a name
                submodule = f"{base}.{alias.name}"
                found.add(submodule if _exists(submodule) else base)
    return found


def _exists(module: str) -> bool:
    package = module.split(".")[0]
    if package not in PACKAGES:
        return False
    relative = Path(*module.split(".")[1:])
    root = _root(package)
    return (root / relative).with_suffix(".py").is_file() or (root / relative / "__init__.py").is_file()


def _graph(package: str = PACKAGE) -> dict[str, set[str]]:
    root = _root(package)
    modules = {_module_name(p, root): p for p in root.rglob("*.py")}
    return {name: _imports(path, name) for name, path in modules.items()}


def _subpackages(graph: dict[str, set[str]], package: str) -> dict[str, set[str]]:
    """The graph with each module folded into its subpackage (a top-level module stays itself),
    arrows within one subpackage left out."""
    def fold(module: str) -> str:
        parts = module.split(".")
        if len(parts) > 2 or _exists(module) and (_root(package) / parts[-1] / "__init__.py").is_file():
            return ".".join(parts[:2])
        return module

    folded: dict[str, set[str]] = {}
    for module, imports in graph.items():
        mine = fold(module)
        folded.setdefault(mine, set()).update(fold(i) for i in imports if i.startswith(package) and fold(i) != mine)
    return folded


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle among the package's modules, or None."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return path[path.index(module):] + [module]
        if module in done or module not in graph:
            return None
        for target in sorted(graph[module]):
            found = visit(target, [*path, module])
            if found:
                return found
        done.add(module)
        return None

    for module in sorted(graph):
        found = visit(module, [])
        if found:
            return found
    return None


def test_the_import_graph_is_read_from_the_source():
    graph = _graph()
    assert "zoadamm_service.domain.sessions" in graph["zoadamm_service.domain.leases"]
    assert "zoadamm_service.store.base" in graph["zoadamm_service.store.redis"]


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_imports_itself_through_a_circle(package):
    assert _cycle(_graph(package)) is None


@pytest.mark.parametrize("package", PACKAGES)
def test_no_subpackage_imports_itself_through_a_circle(package):
    assert _cycle(_subpackages(_graph(package), package)) is None


def test_a_circle_would_be_found():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_the_store_does_not_import_the_domain_and_the_domain_not_the_http_layer_nor_prometheus():
    graph = _graph()
    for module, imports in graph.items():
        if module.startswith(f"{PACKAGE}.store"):
            assert not {i for i in imports if i.startswith(f"{PACKAGE}.domain")}, module
        if module.startswith(f"{PACKAGE}.domain"):
            upward = {i for i in imports if i.startswith((f"{PACKAGE}.api", f"{PACKAGE}.telemetry", "prometheus",
                                                          "fastapi", "starlette"))}
            assert not upward, (module, upward)
