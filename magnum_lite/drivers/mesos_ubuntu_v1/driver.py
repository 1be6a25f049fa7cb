"""Mesos on Ubuntu VMs: the `mesos_ubuntu_v1` driver plugin.

The shared Heat driver builds the stacks; this plugin says what the nodes boot with
(userdata.py: ZooKeeper, mesos-master and Marathon on masters, mesos-agent on workers), which
labels and Driver-version config it reads, and that the cluster's API is the Mesos master's
(`https://<host>:5050`, TLS with the cluster CA), and that Marathon's (HTTPS on 8443) is
reachable at the same host: the security group opens its port and the masters' load balancer
forwards it (templates/lb_env.yaml), for a drain to move tasks. Masters form a ZooKeeper
quorum, so their
count must be odd (`validate_cluster`). Workers are rendered once every master's private
address is known (`workers_may_start`), for their ZooKeeper URL.
"""

from __future__ import annotations

import contextvars
from pathlib import Path
import secrets
from typing import Any

from magnum_lite.common import exception
from magnum_lite.conf import CONF
from magnum_lite.drivers import base
from magnum_lite.drivers.heat import driver as heat_driver
from magnum_lite.drivers.heat import parameters
from magnum_lite.drivers.mesos_ubuntu_v1 import coe, userdata

# The Driver-version config keys and their defaults; labels of the same name override them.
DEFAULT_CONFIG: dict[str, Any] = {
    "mesos_version": userdata.DEFAULT_MESOS_VERSION,
    "marathon_version": userdata.DEFAULT_MARATHON_VERSION,
    "zookeeper_version": userdata.DEFAULT_ZOOKEEPER_VERSION,
}
LABELS = tuple(DEFAULT_CONFIG)
#: The environment that gives the masters' load balancer Marathon's listener and pool.
LB_ENV = Path(__file__).resolve().parent / "templates" / "lb_env.yaml"
#: The network drivers a Mesos cluster can have (Magnum's: Docker's own networking).
NETWORK_DRIVERS = ("docker",)

# The masters' private addresses while a worker nodegroup's parameters are made: the hook
# that renders user data gets only the control plane's address, workers need all of them.
_MASTERS: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar(
    "mesos_masters", default=())


def _node_labels(nodegroup: Any) -> dict[str, str]:
    """A nodegroup's node labels, none when the field is unset: the API checks nodegroups it
    has not stored yet, built only from the fields it sets."""
    is_set = getattr(nodegroup, "obj_attr_is_set", None)
    if is_set is not None and not is_set("node_labels"):
        return {}
    return dict(nodegroup.node_labels or {})


class MesosUbuntuV1(heat_driver.HeatDriver):
    """Mesos masters (with ZooKeeper and Marathon) and agents on Ubuntu VMs."""

    provides = [("vm", "ubuntu", "mesos"), ("bm", "ubuntu", "mesos")]
    boot_dir = userdata.BOOT_DIR
    default_config = DEFAULT_CONFIG
    api_port = userdata.API_PORT
    public_tcp_ports = (22, userdata.MARATHON_PORT)

    @classmethod
    def check_config(cls, settings: dict[str, Any]) -> None:
        cls._boot_config(settings, role="master")

    def validate_cluster(self, cluster: Any, cluster_template: Any,
                         nodegroups: list[Any]) -> None:
        """Refuse, before anything is built, a cluster this driver cannot make: an even
        master count (no ZooKeeper quorum), a network driver Mesos has no use for, or a
        bad label or node label.

        :raises exception.InvalidParameterValue: naming the field.
        """
        super().validate_cluster(cluster, cluster_template, nodegroups)
        count = cluster.master_count or 1
        if count % 2 == 0:
            raise exception.InvalidParameterValue(
                err="master_count: mesos needs an odd number of masters for its ZooKeeper "
                    "quorum")
        network_driver = cluster_template.network_driver
        if network_driver and network_driver not in NETWORK_DRIVERS:
            raise exception.InvalidParameterValue(
                err=f"network_driver: {network_driver!r} is not available for mesos; "
                    f"choose one of {', '.join(NETWORK_DRIVERS)}")
        settings = self._settings(cluster, cluster_template)
        for ng in nodegroups:
            role = "master" if ng.role == "master" else "worker"
            self._boot_config(settings, role, master_count=count,
                              attributes=_node_labels(ng))

    # -- settings ------------------------------------------------------------------------------

    def _settings(self, cluster: Any, cluster_template: Any) -> dict[str, Any]:
        """Config of the Driver version, then the template's labels, then the cluster's."""
        settings = {**DEFAULT_CONFIG, **self.config}
        labels = {**(cluster_template.labels or {}), **(cluster.labels or {})}
        for label in LABELS:
            if label in labels:
                settings[label] = labels[label]
        return settings

    @staticmethod
    def _boot_config(settings: dict[str, Any], role: str, **values: Any
                     ) -> userdata.MesosBootConfig:
        values = {"cluster_uuid": "00000000-0000-4000-8000-000000000000",
                  "cluster_name": "validate", "control_plane_host": "192.0.2.1",
                  "join_token": "0" * 64, "master_count": 1,
                  "zookeeper_hosts": ("192.0.2.1",) if role == "worker" else (), **values}
        try:
            config = userdata.MesosBootConfig(
                role=role, mesos_version=str(settings["mesos_version"]),
                marathon_version=str(settings["marathon_version"]),
                zookeeper_version=str(settings["zookeeper_version"]), **values)
            userdata.validate_config(config)
        except (TypeError, ValueError) as err:
            raise exception.InvalidParameterValue(err=str(err)) from err
        return config

    # -- the COE API ---------------------------------------------------------------------------

    def coe_client(self, cluster: Any, credentials: base.CredentialsLoader) -> base.CoeNodes:
        """The cluster's Mesos agents through the masters' API (coe.py)."""
        # Half the drain's time to move Marathon's tasks (coe.py kills them one at a time)
        # and for other frameworks' to end; then the machine goes down with what is left.
        return coe.MesosNodes(cluster.api_address, credentials,
                              drain_grace=CONF.conductor.upgrade_drain_timeout / 2)

    # -- HeatDriver hooks ------------------------------------------------------------------------

    def extra_environments(self, cluster: Any, cluster_template: Any, masters: bool
                           ) -> list[Path]:
        """The masters' load balancer, when they have one, forwards Marathon's port too."""
        if masters and any(p.name == "master_lb.yaml" for p in parameters.environments(
                cluster, cluster_template, masters=True,
                masters_count=self._master_count(cluster), baremetal=False,
                node_volume_size=0)):
            return [LB_ENV]
        return []

    def make_join_token(self) -> str:
        """The secret the agents', Marathon's and the operator's Mesos secrets derive from."""
        return secrets.token_hex(32)

    def coe_version(self, cluster: Any, cluster_template: Any) -> str | None:
        return str(self._settings(cluster, cluster_template)["mesos_version"])

    def credential_files(self, cluster: Any, role: str,
                         credentials: base.ClusterCredentials) -> dict[str, str]:
        """Masters hold the cluster CA with its key (each issues its own certificate at boot);
        workers its certificate only."""
        pair = credentials.cas.get("ca")
        if pair is None:
            return {}
        files = {userdata.CA_CERT_PATH: pair.certificate}
        if role == "master":
            files[userdata.CA_KEY_PATH] = pair.private_key
        return files

    def workers_may_start(self, cluster: Any, cluster_template: Any, masters: Any,
                          outputs: dict[str, Any]) -> bool:
        """Agents name the whole ZooKeeper ensemble: every master's address must be known."""
        known = [a for a in parameters.ordered(outputs.get("master_private_addresses")) if a]
        return (len(known) >= (cluster.master_count or 1)
                and super().workers_may_start(cluster, cluster_template, masters, outputs))

    def nodegroup_parameters(self, cluster: Any, cluster_template: Any, nodegroup: Any,
                             chunk: int, node_count: int, cluster_outputs: dict[str, Any],
                             credentials: base.ClusterCredentials) -> dict[str, Any]:
        """The shared parameters, rendered knowing every master (the ZooKeeper ensemble)."""
        private = parameters.ordered(cluster_outputs.get("master_private_addresses"))
        masters = tuple(str(a) for a in private if a)
        token = _MASTERS.set(masters)
        try:
            return super().nodegroup_parameters(cluster, cluster_template, nodegroup, chunk,
                                                node_count, cluster_outputs, credentials)
        finally:
            _MASTERS.reset(token)

    def render_user_data(self, cluster: Any, cluster_template: Any, nodegroup: Any,
                         control_plane_host: str, public_address: str | None,
                         credentials: base.ClusterCredentials) -> str:
        settings = self._settings(cluster, cluster_template)
        role = "master" if nodegroup.role == "master" else "worker"
        zookeeper_hosts: tuple[str, ...] = ()
        if role == "worker":
            zookeeper_hosts = _MASTERS.get() or (
                (control_plane_host,) if control_plane_host else ())
        token = self.join_token(cluster)
        if not token:
            raise exception.InvalidParameterValue(
                err=f"cluster {cluster.uuid}: no join token to render its nodes with")
        config = self._boot_config(
            settings, role, cluster_uuid=cluster.uuid, cluster_name=cluster.name,
            control_plane_host=control_plane_host, api_public_address=public_address,
            join_token=token,
            master_count=cluster.master_count or 1, zookeeper_hosts=zookeeper_hosts,
            docker_volume_size=self._node_volume_size(cluster, cluster_template, nodegroup),
            http_proxy=cluster_template.http_proxy or "",
            https_proxy=cluster_template.https_proxy or "",
            no_proxy=cluster_template.no_proxy or "",
            attributes=_node_labels(nodegroup),
            credential_files=self.credential_files(cluster, role, credentials))
        try:
            return userdata.render_user_data(config)
        except ValueError as err:
            raise exception.InvalidParameterValue(err=str(err)) from err
