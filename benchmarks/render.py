"""How long each driver takes to render a cluster's Heat stacks at 1, 100 and 1,000 nodes.

Rendering is what the conductor does before it calls Heat: the cluster stack's parameters
(the masters' user data), then one set of parameters per worker chunk stack (a chunk's nodes
share one user data; a 1,000-node nodegroup is 11 chunks at Heat's default
max_resources_per_stack), plus the templates and environment files read once per process.
In process, no services; the cluster CA is made once, outside the timings.

    .venv/bin/python -m benchmarks.render [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any
import uuid

from magnum_lite.common import x509
from magnum_lite.conf import CONF
from magnum_lite.drivers import base
from magnum_lite.drivers.heat import chunks, stacks
from magnum_lite.drivers.heat import driver as heat_driver
from magnum_lite.drivers.k8s_ubuntu_v1 import driver as k8s
from magnum_lite.drivers.mesos_ubuntu_v1 import driver as mesos
from magnum_lite.drivers.swarm_fedora_v2 import driver as swarm
from magnum_lite.objects import Cluster, ClusterTemplate, NodeGroup
from magnum_lite_sandbox import docker_api

PLUGINS = (("k8s_ubuntu_v1", k8s.K8sUbuntuV1, "kubernetes", "ubuntu", "flannel"),
           ("swarm_fedora_v2", swarm.SwarmFedoraV2, "swarm-mode", "fedora", None),
           ("mesos_ubuntu_v1", mesos.MesosUbuntuV1, "mesos", "ubuntu", "docker"))
SIZES = (1, 100, 1000)


def _objects(plugin: Any, coe: str, distro: str, network_driver: str | None, nodes: int
             ) -> tuple[Any, Any, Any, Any]:
    cluster = Cluster(uuid=str(uuid.uuid4()), name="bench", labels={}, master_count=3,
                      master_lb_enabled=True, floating_ip_enabled=True, docker_volume_size=0,
                      keypair=None, fixed_network=None, fixed_subnet=None,
                      master_flavor_id=None, flavor_id=None, create_timeout=60,
                      project_id="p")
    cluster.join_token = plugin().make_join_token()
    template = ClusterTemplate(labels={}, network_driver=network_driver, coe=coe,
                               cluster_distro=distro, image_id="image",
                               external_network_id="public", floating_ip_enabled=True,
                               flavor_id="m1.small", master_flavor_id="m1.medium",
                               dns_nameserver="8.8.8.8", docker_volume_size=0,
                               keypair_id=None, fixed_network=None, fixed_subnet=None,
                               http_proxy=None, https_proxy=None, no_proxy=None,
                               docker_storage_driver=None, server_type="vm")
    masters = NodeGroup(uuid=str(uuid.uuid4()), name="default-master", role="master",
                        node_count=3, image_id="image", flavor_id=None, node_labels={},
                        node_taints=[], availability_zone=None, server_type=None)
    workers = NodeGroup(uuid=str(uuid.uuid4()), name="default-worker", role="worker",
                        node_count=nodes, image_id="image", flavor_id=None, node_labels={},
                        node_taints=[], availability_zone=None, server_type=None)
    return cluster, template, masters, workers


def _render(driver: heat_driver.HeatDriver, cluster: Any, template: Any, masters: Any,
            workers: Any, credentials: base.ClusterCredentials, outputs: dict) -> int:
    """Everything the conductor renders for the cluster; the number of stacks."""
    driver.cluster_parameters(cluster, template, masters, credentials)
    stacks.template_and_files(heat_driver.TEMPLATES / "cluster.yaml",
                              driver._environments(cluster, template, masters=True))
    plan = chunks.plan(workers.node_count, driver.nodes_per_stack())
    for chunk, count in enumerate(plan):
        driver.nodegroup_parameters(cluster, template, workers, chunk, count, outputs,
                                    credentials)
    stacks.template_and_files(heat_driver.TEMPLATES / "nodegroup.yaml",
                              driver._environments(cluster, template, masters=False))
    return 1 + len(plan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    CONF([], project="magnum-lite")
    ca = x509.generate_ca("bench CA")
    credentials = base.ClusterCredentials(cas={"ca": ca, "etcd": ca, "front_proxy": ca})
    print("| driver | nodes | stacks | median ms | slowest ms |")
    print("|---|---|---|---|---|")
    for name, plugin, coe, distro, network_driver in PLUGINS:
        for nodes in SIZES:
            cluster, template, masters, workers = _objects(plugin, coe, distro,
                                                           network_driver, nodes)
            outputs = {"network": "net", "subnet": "subnet", "security_group": "sg",
                       "lb_vip": "10.0.0.10",
                       "master_private_addresses": {"0": "10.0.0.3", "1": "10.0.0.4",
                                                    "2": "10.0.0.5"},
                       "worker_join_token": docker_api.join_token(cluster.uuid, "worker")}
            runs, count = [], 0
            for _ in range(args.repeat):
                start = time.perf_counter()
                count = _render(plugin(), cluster, template, masters, workers, credentials,
                                outputs)
                runs.append((time.perf_counter() - start) * 1000)
            print(f"| {name} | {nodes} | {count} | {statistics.median(runs):.1f} | "
                  f"{max(runs):.1f} |")


if __name__ == "__main__":
    main()
