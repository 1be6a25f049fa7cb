"""The script each plugin sends Heat for its nodes' credentials deployments: self-contained,
since nodes booted before boot/common.sh existed (or with an older copy of it) run it too."""

from __future__ import annotations

import pytest

from magnum_lite.drivers.heat import cloud_init
from magnum_lite.drivers.k8s_ubuntu_v1 import driver as k8s
from magnum_lite.drivers.mesos_ubuntu_v1 import driver as mesos
from magnum_lite.drivers.swarm_fedora_v2 import driver as swarm
from tests.unit.drivers import boot_helpers

PLUGINS = [k8s.K8sUbuntuV1, mesos.MesosUbuntuV1, swarm.SwarmFedoraV2]


@pytest.mark.parametrize("plugin", PLUGINS, ids=lambda p: p.__name__)
def test_the_rotation_script_carries_common_sh_instead_of_sourcing_it(plugin):
    script = plugin(None).credentials_script()
    source = (plugin.boot_dir / "apply-credentials.sh").read_text()
    assert cloud_init.SOURCE_COMMON_SH in source
    assert cloud_init.SOURCE_COMMON_SH not in script
    assert "common.sh\"" not in script.replace("# shellcheck source=../../heat/boot/common.sh",
                                               "")
    assert cloud_init.COMMON_SH.read_text().rstrip("\n") in script
    assert script.startswith("#!/bin/bash\n")


@pytest.mark.service
@pytest.mark.parametrize("plugin", PLUGINS, ids=lambda p: p.__name__)
def test_the_rotation_script_passes_shellcheck(plugin, tmp_path):
    sent = tmp_path / "apply-credentials.sh"
    sent.write_text(plugin(None).credentials_script())
    boot_helpers.shellcheck(sent)


def test_a_script_that_does_not_source_common_sh_is_refused():
    with pytest.raises(ValueError, match="does not source common.sh"):
        cloud_init.self_contained("#!/bin/bash\necho hi\n")
