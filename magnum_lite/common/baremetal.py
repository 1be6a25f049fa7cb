"""What a baremetal (Ironic, server_type `bm`) node cannot have, checked by the API when a
template or nodegroup is stored and by the drivers when a cluster is made: one place, so both
give the same reasons."""

from __future__ import annotations

from magnum_lite.common import exception

BAREMETAL = "bm"


def check_volume(server_type: str | None, docker_volume_size: int | None) -> None:
    """A baremetal node or nodegroup keeps container storage on its local disk.

    :raises magnum_lite.common.exception.InvalidParameterValue: naming docker_volume_size.
    """
    if server_type == BAREMETAL and docker_volume_size:
        raise exception.InvalidParameterValue(
            err="docker_volume_size: baremetal nodes use their local disks; Cinder volumes are "
                "not attached to them")


def check(server_type: str | None, *, docker_volume_size: int | None,
          fixed_network: str | None, floating_ip_enabled: bool | None) -> None:
    """Refuse what a baremetal (`bm`) cluster cannot have.

    Ironic nodes keep container storage on their local disk (no Cinder volume is attached),
    boot on an existing flat provisioning network (no tenant network or router is made) and,
    that network being flat, get no floating IPs.
    :raises magnum_lite.common.exception.InvalidParameterValue: naming the field.
    """
    if server_type != BAREMETAL:
        return
    check_volume(server_type, docker_volume_size)
    if not fixed_network:
        raise exception.InvalidParameterValue(
            err="fixed_network: baremetal clusters need the existing flat (provisioning) "
                "network their nodes boot on")
    if floating_ip_enabled:
        raise exception.InvalidParameterValue(
            err="floating_ip_enabled: baremetal nodes sit on a flat network, where there are no "
                "floating IPs; disable them (--floating-ip-disabled)")
