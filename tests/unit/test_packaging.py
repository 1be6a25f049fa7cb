"""What each distribution of the repository installs: the service (setup.cfg at the root) ships
no sandbox module, the sandbox (sandbox/setup.cfg) installs on its own with its data, and the
openstack CLI plugin (osc/setup.cfg) installs on an operator's laptop without the service.

Each is built the way pip builds its wheel, by setuptools from a copy of the source tree
(nothing is written into the checkout): `egg_info` gives the metadata (top-level packages,
entry points, requirements) and `build_py` the files a wheel installs into site-packages, its
packages and package data. (`pip wheel` itself needs the `wheel` package, which a fresh venv
does not have.)
"""

from __future__ import annotations

import ast
import configparser
from pathlib import Path
import shutil
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parents[2]
SANDBOX_PACKAGE = "magnum_lite_sandbox"
#: A maintainer's tool run from the checkout (it regenerates the templates), not installed.
SANDBOX_NOT_INSTALLED = {"templates/generate.py"}
OSC_PACKAGE = "magnum_lite_osc"
#: What the CLI plugin may import besides the standard library and itself: the client side.
OSC_IMPORTS = {"cliff", "osc_lib", "magnumclient"}


class Built:
    """One distribution as setuptools builds it: its metadata and its installed files."""

    def __init__(self, egg_info: Path, lib: Path) -> None:
        self.egg_info = egg_info
        self.lib = lib

    def files(self) -> set[str]:
        return {p.relative_to(self.lib).as_posix() for p in self.lib.rglob("*") if p.is_file()}

    def top_level(self) -> list[str]:
        return (self.egg_info / "top_level.txt").read_text().split()

    def entry_points(self, group: str) -> dict[str, str]:
        parser = configparser.ConfigParser()
        parser.read(self.egg_info / "entry_points.txt")
        return dict(parser[group]) if parser.has_section(group) else {}

    def console_scripts(self) -> dict[str, str]:
        return self.entry_points("console_scripts")

    def requires(self) -> list[str]:
        return (self.egg_info / "requires.txt").read_text().splitlines()


def _source_files(package: Path) -> set[str]:
    """A package's files in the checkout, less bytecode and dotfiles (linters' settings)."""
    return {p.relative_to(package).as_posix() for p in package.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and not p.name.startswith(".")}


def _build(tmp: Path, name: str, where: str) -> Built:
    source = tmp / "src"
    if not source.exists():
        shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
            ".git", ".venv", ".tox", "__pycache__", "build", "dist", "*.egg-info"))
    out = tmp / name
    (out / "egg").mkdir(parents=True)
    done = subprocess.run(
        [sys.executable, "-c", "import setuptools; setuptools.setup()", "-q",
         "egg_info", "--egg-base", str(out / "egg"), "build_py", "--build-lib", str(out / "lib")],
        cwd=source / where, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    (egg_info,) = (out / "egg").glob("*.egg-info")
    return Built(egg_info, out / "lib")


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("packaging")


@pytest.fixture(scope="module")
def service(tree) -> Built:
    return _build(tree, "service", ".")


@pytest.fixture(scope="module")
def sandbox(tree) -> Built:
    return _build(tree, "sandbox", "sandbox")


@pytest.fixture(scope="module")
def osc(tree) -> Built:
    return _build(tree, "osc", "osc")


def test_the_service_installs_no_sandbox_module(service):
    files = service.files()
    assert service.top_level() == ["magnum_lite"]
    assert {f.split("/")[0] for f in files} == {"magnum_lite"}
    assert not [f for f in files if "sandbox" in f.split("/")[:-1] or SANDBOX_PACKAGE in f]
    assert "magnum-lite-sandbox" not in service.console_scripts()
    assert not [v for v in service.console_scripts().values() if SANDBOX_PACKAGE in v]


def test_the_service_installs_all_of_its_package(service):
    """Every file of magnum_lite, the drivers' boot scripts and templates too (a pattern
    list on several lines once lost the shared Heat templates)."""
    assert service.files() == {f"magnum_lite/{f}" for f in _source_files(ROOT / "magnum_lite")}


def test_the_sandbox_installs_on_its_own_with_its_data(sandbox):
    package = ROOT / "sandbox" / SANDBOX_PACKAGE
    wanted = _source_files(package) - SANDBOX_NOT_INSTALLED
    assert {"requirements.txt", "constraints.txt", "templates/schemas.json",
            "templates/os_nova_server.yaml", "heat_plugins/README.md"} <= wanted
    assert sandbox.files() == {f"{SANDBOX_PACKAGE}/{f}" for f in wanted}
    assert sandbox.top_level() == [SANDBOX_PACKAGE]
    assert sandbox.console_scripts() == {"magnum-lite-sandbox": f"{SANDBOX_PACKAGE}.cli:main"}
    assert sandbox.requires()[0].startswith("magnum-lite[")


def test_the_cli_plugin_installs_without_the_service(osc):
    """Its own package only, the client libraries only (no magnum-lite, oslo.db, pecan), and
    its modules import nothing else."""
    assert osc.top_level() == [OSC_PACKAGE]
    assert osc.files() == {f"{OSC_PACKAGE}/{f}" for f in _source_files(ROOT / "osc" / OSC_PACKAGE)}
    required = {line.split(">")[0].split("=")[0].strip().lower() for line in osc.requires()
                if line.strip()}
    assert required == {"cliff", "osc-lib", "python-magnumclient", "python-openstackclient"}
    for path in (ROOT / "osc" / OSC_PACKAGE).glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                top = name.split(".")[0]
                assert (top in sys.stdlib_module_names or top in OSC_IMPORTS
                        or top in ("__future__", OSC_PACKAGE)), f"{path.name} imports {name}"


def test_the_cli_plugin_registers_its_commands(osc):
    """magnum-lite's commands beside python-magnumclient's; its upgrade in the group the
    `openstack` shell loads last, so that it replaces python-magnumclient's."""
    commands = osc.entry_points("openstack.container_infra.v1")
    assert set(commands) == {"coe_driver_create", "coe_driver_list", "coe_driver_show",
                             "coe_driver_update", "coe_driver_delete",
                             "coe_driver_version_list", "coe_cluster_event_list",
                             "coe_cluster_repair"}
    assert all(target.startswith(f"{OSC_PACKAGE}.") for target in commands.values())
    assert osc.entry_points("openstack.extension") == {
        "coe_cluster_upgrade": f"{OSC_PACKAGE}.upgrade:UpgradeCluster"}
