"""Docker swarm-mode on Fedora VMs: the `swarm_fedora_v2` driver plugin.

The shared Heat driver builds the stacks; this plugin says what the nodes boot with
(userdata.py), switches on the shared cluster stack's join step (manager 0 reports the
workers' join token through a Heat software deployment, see userdata.py), and checks what
swarm-mode needs: an odd number of managers (Raft quorum) and a storage driver Docker has.

The Docker API (TLS, client certificates of the cluster CA) listens on the managers' port
2376, behind the API load balancer when there is more than one manager; the swarm port 2377
and the overlay networks stay inside the cluster network, which the security group opens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from magnum_lite.common import exception
from magnum_lite.drivers import base
from magnum_lite.drivers.heat import driver as heat_driver
from magnum_lite.drivers.heat import parameters
from magnum_lite.drivers.swarm_fedora_v2 import coe, userdata

ENV = Path(__file__).resolve().parent / "templates" / "env.yaml"
#: A worker join token of Docker's form for rendering before the swarm exists (previews).
STANDIN_TOKEN = "SWMTKN-1-" + "0" * 50 + "-" + "0" * 25
#: The cluster stack output carrying the worker join token (see cluster.yaml).
WORKER_TOKEN_OUTPUT = "worker_join_token"

# The Driver-version config keys and their defaults; labels of the same name override them.
DEFAULT_CONFIG: dict[str, Any] = {
    "docker_version": userdata.DEFAULT_DOCKER_VERSION,
    "docker_storage_driver": userdata.DEFAULT_STORAGE_DRIVER,
}
LABELS = ("docker_version",)
# The (x509) cluster CA on the nodes: managers sign their Docker API certificate with it.
CA_CERT = f"{userdata.TLS_DIR}/ca.crt"
CA_KEY = f"{userdata.TLS_DIR}/ca.key"


class SwarmFedoraV2(heat_driver.HeatDriver):
    """Docker swarm-mode on Fedora VMs: managers on the cluster stack, workers on theirs."""

    provides = [("vm", "fedora", "swarm-mode"), ("bm", "fedora", "swarm-mode")]
    boot_dir = userdata.BOOT_DIR
    default_config = DEFAULT_CONFIG
    api_port = userdata.DOCKER_TLS_PORT
    api_scheme = "tcp"  # what Magnum shows and DOCKER_HOST takes: tcp://<ip>:2376
    public_tcp_ports = (22,)

    @classmethod
    def check_config(cls, settings: dict[str, Any]) -> None:
        cls._check(lambda: userdata.docker_major(str(settings["docker_version"])))
        cls._check_storage_driver(settings["docker_storage_driver"])

    def validate_template(self, cluster_template: Any) -> None:
        """A template's docker_storage_driver must be one swarm nodes can run (400)."""
        if cluster_template.docker_storage_driver:
            self._check_storage_driver(cluster_template.docker_storage_driver)

    @staticmethod
    def _check_storage_driver(name: Any) -> None:
        if name not in userdata.STORAGE_DRIVERS:
            raise exception.InvalidParameterValue(
                err=f"docker_storage_driver: must be one of "
                    f"{', '.join(userdata.STORAGE_DRIVERS)}, got {name!r}")

    @staticmethod
    def _check(call: Any) -> Any:
        try:
            return call()
        except (TypeError, ValueError) as err:
            raise exception.InvalidParameterValue(err=str(err)) from err

    # -- settings ------------------------------------------------------------------------------

    def _settings(self, cluster: Any, cluster_template: Any) -> dict[str, Any]:
        """Config of the Driver version, then the template's storage driver, then labels."""
        settings = {**DEFAULT_CONFIG, **self.config}
        if cluster_template.docker_storage_driver:
            settings["docker_storage_driver"] = cluster_template.docker_storage_driver
        labels = {**(cluster_template.labels or {}), **(cluster.labels or {})}
        for label in LABELS:
            if label in labels:
                settings[label] = labels[label]
        return settings

    def validate_cluster(self, cluster: Any, cluster_template: Any,
                         nodegroups: list[Any] | None = None) -> None:
        """What the API should check at cluster create (400): an odd manager count (Raft
        quorum), a storage driver and Docker version this plugin can install.
        :raises exception.InvalidParameterValue: naming the field.
        """
        super().validate_cluster(cluster, cluster_template, nodegroups)
        count = self._master_count(cluster)
        for ng in nodegroups or []:
            if ng.role == "master" and ng.node_count:
                count = ng.node_count
        if count % 2 == 0:
            raise exception.InvalidParameterValue(
                err="master_count: swarm-mode needs an odd number of managers for its Raft "
                    "quorum")
        settings = self._settings(cluster, cluster_template)
        self._check_storage_driver(settings["docker_storage_driver"])
        major = self._check(lambda: userdata.docker_major(str(settings["docker_version"])))
        if major < userdata.MIN_DOCKER_MAJOR:
            raise exception.InvalidParameterValue(
                err=f"labels.docker_version: {settings['docker_version']} is older than "
                    f"{userdata.MIN_DOCKER_MAJOR}.0.0")

    # -- the COE API ---------------------------------------------------------------------------

    def coe_client(self, cluster: Any, credentials: base.CredentialsLoader) -> base.CoeNodes:
        """The cluster's swarm nodes through the managers' Docker API (coe.py)."""
        return coe.SwarmNodes(cluster.api_address, credentials)

    # -- HeatDriver hooks ------------------------------------------------------------------------

    def extra_environments(self, cluster: Any, cluster_template: Any, masters: bool
                           ) -> list[Path]:
        return [ENV] if masters else []

    def coe_version(self, cluster: Any, cluster_template: Any) -> str | None:
        return str(self._settings(cluster, cluster_template)["docker_version"])

    def credential_files(self, cluster: Any, role: str,
                         credentials: base.ClusterCredentials) -> dict[str, str]:
        """Managers hold the cluster CA with its key (each signs its own Docker API
        certificate, and the other managers sign client certificates to join); workers its
        certificate only (their Docker API is the local unix socket)."""
        ca = credentials.cas.get("ca")
        if ca is None:
            return {}
        files = {CA_CERT: ca.certificate}
        if role == "master":
            files[CA_KEY] = ca.private_key
        return files

    def render_user_data(self, cluster: Any, cluster_template: Any, nodegroup: Any,
                         control_plane_host: str, public_address: str | None,
                         credentials: base.ClusterCredentials) -> str:
        """Workers rendered here (without the cluster stack's outputs) get a stand-in token
        and manager address; nodegroup_parameters renders them with the real ones."""
        return self._render(cluster, cluster_template, nodegroup, control_plane_host,
                            public_address, credentials, STANDIN_TOKEN, ("192.0.2.10",))

    def _render(self, cluster: Any, cluster_template: Any, nodegroup: Any,
                control_plane_host: str, public_address: str | None,
                credentials: base.ClusterCredentials, token: str,
                managers: tuple[str, ...]) -> str:
        settings = self._settings(cluster, cluster_template)
        role = "master" if nodegroup.role == "master" else "worker"
        worker = role == "worker"
        config = userdata.NodeBootConfig(
            role=role, cluster_uuid=cluster.uuid, cluster_name=cluster.name,
            docker_version=str(settings["docker_version"]),
            docker_storage_driver=str(settings["docker_storage_driver"]),
            control_plane_host=control_plane_host, master_count=self._master_count(cluster),
            api_port=self.api_port,
            docker_volume_size=self._node_volume_size(cluster, cluster_template, nodegroup),
            api_public_address=public_address,
            manager_addresses=managers if worker else (), join_token=token if worker else "",
            http_proxy=cluster_template.http_proxy or "",
            https_proxy=cluster_template.https_proxy or "",
            no_proxy=cluster_template.no_proxy or "",
            node_labels=dict(nodegroup.node_labels or {}),
            credential_files=self.credential_files(cluster, role, credentials))
        return self._check(lambda: userdata.render_user_data(config))

    def workers_may_start(self, cluster: Any, cluster_template: Any, masters: Any,
                          outputs: dict[str, Any]) -> bool:
        """Workers join with the token manager 0 makes once the swarm is up (its join_tokens
        step, the cluster stack's last): before that there is nothing to join with."""
        return (_worker_token(outputs) is not None
                and super().workers_may_start(cluster, cluster_template, masters, outputs))

    def nodegroup_parameters(self, cluster: Any, cluster_template: Any, nodegroup: Any,
                             chunk: int, node_count: int, cluster_outputs: dict[str, Any],
                             credentials: base.ClusterCredentials) -> dict[str, Any]:
        """The shared parameters, with user data that carries the worker join token manager
        0 reported (the cluster stack's output) and the managers' private addresses."""
        params = super().nodegroup_parameters(cluster, cluster_template, nodegroup, chunk,
                                              node_count, cluster_outputs, credentials)
        if WORKER_TOKEN_OUTPUT in cluster_outputs:
            token = _worker_token(cluster_outputs)
            if token is None:
                raise exception.InvalidParameterValue(
                    err="worker_join_token: manager 0 reported no swarm join token "
                        "(its join_tokens deployment gave none)")
        else:  # a preview before the cluster stack exists
            token = STANDIN_TOKEN
        managers = tuple(str(a) for a in parameters.ordered(
            cluster_outputs.get("master_private_addresses")) if a) or ("192.0.2.10",)
        params["user_data"] = self._render(
            cluster, cluster_template, nodegroup, params["control_plane_host"],
            self._public_host(cluster_outputs), credentials, token, managers)
        return params


def _worker_token(outputs: dict[str, Any]) -> str | None:
    """The worker join token manager 0 reported in the cluster stack's outputs, if valid."""
    token = outputs.get(WORKER_TOKEN_OUTPUT)
    if isinstance(token, str) and userdata.SWARM_TOKEN_RE.fullmatch(token.strip()):
        return token.strip()
    return None
