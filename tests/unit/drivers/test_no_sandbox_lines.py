"""What the drivers give a node is for a real node: nothing in their user data or boot scripts
exists only for the sandbox cloud, which reads what a real node reads (issue 13, item 7)."""

from pathlib import Path

import pytest

DRIVERS = Path(__file__).resolve().parents[3] / "magnum_lite" / "drivers"
NODE_FILES = sorted([*DRIVERS.glob("*/userdata.py"), *DRIVERS.glob("*/boot/*"),
                     *DRIVERS.glob("heat/templates/**/*.yaml")])


def test_every_plugin_s_node_files_are_checked():
    plugins = {path.relative_to(DRIVERS).parts[0] for path in NODE_FILES}
    assert {"heat", "k8s_ubuntu_v1", "mesos_ubuntu_v1", "swarm_fedora_v2"} <= plugins


@pytest.mark.parametrize("path", NODE_FILES, ids=lambda p: str(p.relative_to(DRIVERS)))
def test_no_line_names_the_sandbox(path):
    lines = [line.strip() for line in path.read_text().splitlines() if "sandbox" in line.lower()]
    assert lines == []
