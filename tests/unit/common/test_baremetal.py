"""What a baremetal node cannot have: the one check the template API and the drivers share."""

from __future__ import annotations

import pytest

from magnum_lite.common import baremetal, exception


@pytest.mark.parametrize(("values", "field"), [
    ({"docker_volume_size": 5, "fixed_network": "p", "floating_ip_enabled": False},
     "docker_volume_size"),
    ({"docker_volume_size": None, "fixed_network": None, "floating_ip_enabled": False},
     "fixed_network"),
    ({"docker_volume_size": None, "fixed_network": "p", "floating_ip_enabled": True},
     "floating_ip_enabled"),
])
def test_a_baremetal_refusal_names_the_field(values: dict, field: str) -> None:
    with pytest.raises(exception.InvalidParameterValue) as raised:
        baremetal.check("bm", **values)
    assert str(raised.value).startswith(f"{field}: ")
    baremetal.check("vm", **values)  # nothing to refuse for VMs


def test_a_volume_is_refused_only_on_baremetal() -> None:
    with pytest.raises(exception.InvalidParameterValue, match="^docker_volume_size: "):
        baremetal.check_volume(baremetal.BAREMETAL, 5)
    baremetal.check_volume("vm", 5)
    baremetal.check_volume(baremetal.BAREMETAL, None)
