"""The import rules of DESIGN.md §4, checked on the source: a layer imports only the layers
below it, controllers do not import each other, and modules of one package form no cycle.

Imports anywhere in a module count, deferred ones inside functions too: a late import hides
a cycle from Python, not from the design. The few imports that still break a rule are listed
in KNOWN with the reason; the list may only shrink (an entry that no longer breaks anything
fails the test too, so that it is removed with the fix).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "magnum_lite"

# What each layer (a subpackage of magnum_lite) may import, besides itself.
ALLOWED = {
    "conf": set(),
    "common": {"conf"},
    "db": {"common", "conf"},
    "objects": {"db", "common", "conf"},
    "drivers": {"common", "conf"},
    "conductor": {"drivers", "objects", "common", "conf"},
    # The API reaches the conductor only through its RPC client.
    "api": {"objects", "common", "conf", "conductor.rpcapi"},
    "cmd": {"api", "conductor", "drivers", "objects", "db", "common", "conf"},
}
# The sandbox cloud is a distribution of its own (sandbox/, package magnum_lite_sandbox): it
# drives the product from outside, and the product never imports it.
SANDBOX_PACKAGE = "magnum_lite_sandbox"

# Controllers may share these helper modules, and nothing else of each other. cluster_shared
# holds what the cluster resource and the resources below it (nodegroups, certificates,
# credentials) have in common: the policy target, the operation start, the cast, the limits.
# cluster_upgrade and cluster_repair are no controllers: the upgrade and repair actions'
# bodies and checks, which clusters serves.
SHARED_CONTROLLER_MODULES = {"types", "collection", "patch", "cluster_shared", "cluster_upgrade",
                             "cluster_repair"}

# Imports that still break a rule: (importing module, imported module) -> why, until when.
KNOWN: dict[tuple[str, str], str] = {}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> Iterator[str]:
    """Every magnum_lite module `path` imports, relative to the package ("api.app")."""
    this = _module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("magnum_lite."):
                    yield alias.name.removeprefix("magnum_lite.")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            elif node.module and node.module.startswith("magnum_lite."):
                module = node.module.removeprefix("magnum_lite.")
            elif node.module == "magnum_lite":
                module = ""
            else:
                continue
            for alias in node.names:
                # `from magnum_lite.api import versions` imports a module, `from
                # magnum_lite.conf import CONF` a name: the module is whichever exists.
                candidate = f"{module}.{alias.name}" if module else alias.name
                yield candidate if _exists(candidate) else module


def _exists(module: str) -> bool:
    path = PACKAGE.joinpath(*module.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _graph() -> dict[str, set[str]]:
    return {_module_name(path): set(_imports(path)) for path in PACKAGE.rglob("*.py")}


def _layer(module: str) -> str:
    return module.split(".")[0]


def _allowed(source: str, target: str) -> bool:
    source_layer, target_layer = _layer(source), _layer(target)
    if target_layer == source_layer or not target:
        return True
    rules = ALLOWED.get(source_layer, set())
    return target_layer in rules or any(target == rule or target.startswith(rule + ".")
                                        for rule in rules if "." in rule)


def _controller(module: str) -> str | None:
    prefix = "api.controllers.v1."
    return module.removeprefix(prefix) if module.startswith(prefix) else None


def _violations(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    found = set()
    for source, targets in graph.items():
        for target in targets:
            if not _allowed(source, target):
                found.add((source, target))
            mine, theirs = _controller(source), _controller(target)
            if (mine and theirs and mine != theirs
                    and theirs not in SHARED_CONTROLLER_MODULES
                    and mine not in SHARED_CONTROLLER_MODULES):
                found.add((source, target))
    return found


def _cycles(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    """Pairs of modules that import each other (directly)."""
    return {(a, b) for a, targets in graph.items() for b in targets
            if a < b and a in graph.get(b, set())}


def test_every_layer_imports_only_the_layers_below_it():
    graph = _graph()
    found = _violations(graph) | _cycles(graph)
    new = sorted(found - set(KNOWN))
    assert not new, "imports against DESIGN.md §4 (fix them, or say why in KNOWN):\n" + \
        "\n".join(f"  {source} -> {target}" for source, target in new)


def test_the_known_exceptions_still_exist():
    graph = _graph()
    gone = sorted(set(KNOWN) - (_violations(graph) | _cycles(graph)))
    assert not gone, "fixed, so remove them from KNOWN:\n" + "\n".join(
        f"  {source} -> {target}" for source, target in gone)


def test_the_check_sees_an_upward_import():
    """The checker itself: a drivers module importing objects is caught."""
    graph = {"drivers.heat.x": {"objects.cluster"}, "api.controllers.v1.a":
             {"api.controllers.v1.b", "api.controllers.v1.types", "conductor.manager"},
             "api.controllers.v1.b": set(), "conductor.rpcapi": set()}
    assert _violations(graph) == {("drivers.heat.x", "objects.cluster"),
                                  ("api.controllers.v1.a", "api.controllers.v1.b"),
                                  ("api.controllers.v1.a", "conductor.manager")}
    assert _cycles({"common.a": {"common.b"}, "common.b": {"common.a"}}) == {
        ("common.a", "common.b")}


def _sandbox_imports(source: str, filename: str = "<source>") -> list[str]:
    """The modules of the sandbox distribution a module's source imports (deferred too)."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
        found += [name for name in names
                  if name == SANDBOX_PACKAGE or name.startswith(SANDBOX_PACKAGE + ".")]
    return found


def test_the_service_imports_nothing_from_the_sandbox():
    found = {str(path.relative_to(PACKAGE.parent)): imports for path in PACKAGE.rglob("*.py")
             if (imports := _sandbox_imports(path.read_text(), str(path)))}
    assert found == {}, "magnum_lite must not import the sandbox distribution"
    assert not (PACKAGE / "sandbox").exists(), "the sandbox lives in sandbox/, not magnum_lite"


def test_the_check_sees_a_sandbox_import():
    source = ("import os\nfrom magnum_lite.common import x509\n"
              "def f():\n    from magnum_lite_sandbox.cloud_api import store\n"
              "import magnum_lite_sandbox\nimport magnum_lite_sandboxes\n")
    assert sorted(_sandbox_imports(source)) == ["magnum_lite_sandbox",
                                                "magnum_lite_sandbox.cloud_api"]
