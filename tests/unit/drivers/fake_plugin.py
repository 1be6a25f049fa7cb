"""A driver plugin for tests, and a way to install plugins without entry points."""

from __future__ import annotations

from collections.abc import Callable
import threading
from typing import Any

from stevedore import extension

from magnum_lite.common import driver_factory, exception
from magnum_lite.drivers import base
from magnum_lite.objects import fields


class FakeDriver(base.Driver):
    """Provides Kubernetes on Ubuntu VMs; records calls; can be told to fail or to block.

    Observation: `statuses` maps a cluster uuid to the ClusterState `get_status` answers (a
    ClusterState, an exception to raise, or a callable of the cluster); unknown clusters get an
    empty state (no change). `snapshot_calls` lists the project of each `status_snapshot`.
    """

    provides = [("vm", "ubuntu", "kubernetes")]

    calls: list[tuple[str, dict]] = []
    fail_with: Exception | None = None
    block: threading.Event | None = None
    started: threading.Event | None = None
    # What `create`, `update`, `delete`, `create_nodegroup` and `delete_nodegroup` return
    # (a default per operation when None).
    create_state: base.ClusterState | None = None
    update_state: base.ClusterState | None = None
    delete_state: base.ClusterState | None = None
    nodegroup_create_state: base.ClusterState | None = None
    nodegroup_delete_state: base.ClusterState | None = None
    statuses: dict[str, Any] = {}
    snapshot_calls: list[str] = []
    snapshot_fail_with: Exception | None = None
    on_get_status: Callable[[Any, Any], None] | None = None
    operations_seen: list[Any] = []
    # The ClusterCredentials each create/rotate_ca_certificate got from its loader, in order.
    given: list[base.ClusterCredentials] = []
    # What create_dry_run and update_dry_run answer (None: {}).
    preview: dict | None = None
    _lock = threading.Lock()

    @classmethod
    def reset(cls) -> None:
        cls.calls = []
        cls.fail_with = None
        cls.block = None
        cls.started = None
        cls.create_state = None
        cls.update_state = None
        cls.delete_state = None
        cls.nodegroup_create_state = None
        cls.nodegroup_delete_state = None
        cls.statuses = {}
        cls.snapshot_calls = []
        cls.snapshot_fail_with = None
        cls.on_get_status = None
        cls.operations_seen = []  # the operation each get_status was called for
        cls.given = []
        cls.preview = None

    @classmethod
    def get_default_config(cls) -> dict[str, Any]:
        return {"flavor": "m1.small"}

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        if "flavor" not in config:
            raise exception.InvalidParameterValue(err="config needs a flavor")

    def _act(self, name: str, state: base.ClusterState, **kwargs: Any) -> base.ClusterState:
        with type(self)._lock:
            type(self).calls.append((name, {"config": self.config, **kwargs}))
        if self.started is not None:
            self.started.set()
        if self.block is not None:
            self.block.wait(10)
        if self.fail_with is not None:
            raise self.fail_with
        return state

    def create_dry_run(self, context, cluster, cluster_template, nodegroups, *,
                       credentials=None):
        given = credentials() if credentials is not None else None
        self._act("create_dry_run", base.ClusterState(), cluster=cluster.uuid,
                  nodegroups=sorted((ng.name, ng.node_count) for ng in nodegroups),
                  ca_kinds=sorted(given.cas) if given else None)
        return self.preview if self.preview is not None else {}

    def create(self, context, cluster, cluster_template, nodegroups, timeout, *,
               credentials=None):
        state = self.create_state or base.ClusterState(
            status=fields.ClusterStatus.CREATE_IN_PROGRESS, stack_id="stack-1")
        given = credentials() if credentials is not None else None
        if given is not None:
            type(self).given.append(given)
        return self._act("create", state, cluster=cluster.uuid, timeout=timeout,
                         nodegroups=sorted(ng.name for ng in nodegroups),
                         ca_kinds=sorted(given.cas) if given else None)

    def update_dry_run(self, context, cluster, cluster_template, nodegroup, node_count,
                       nodes_to_remove=None, *, credentials=None):
        self._act("update_dry_run", base.ClusterState(), cluster=cluster.uuid,
                  nodegroup=nodegroup.uuid, node_count=node_count,
                  nodes_to_remove=nodes_to_remove)
        return self.preview if self.preview is not None else {}

    # -- rolling upgrade: a plan of the nodegroups' nodes, named "<nodegroup>-<i>" --------

    def coe_version(self, cluster, cluster_template):
        return (cluster.labels or {}).get("kube_tag")

    def upgrade(self, context, cluster, nodegroups, *, max_batch_size, nodegroup_uuids,
                target_key, undo_key=None):
        """Masters one at a time, then each worker nodegroup in batches of max_batch_size."""
        batches = []
        for ng in sorted(nodegroups, key=lambda n: (n.role != fields.NodeGroupRole.MASTER,
                                                    not n.is_default, n.name)):
            if nodegroup_uuids and ng.uuid not in nodegroup_uuids:
                continue
            size = 1 if ng.role == fields.NodeGroupRole.MASTER else max_batch_size
            names = [f"{ng.name}-{i}" for i in range(ng.node_count or 0)]
            batches += [{"nodegroup": ng.uuid, "nodegroup_name": ng.name, "role": ng.role,
                         "nodes": names[start:start + size]}
                        for start in range(0, len(names), size)]
        return batches

    def upgrade_dry_run(self, context, cluster, nodegroups, batches):
        self._act("upgrade_dry_run", base.ClusterState(), cluster=cluster.uuid,
                  batches=len(batches))
        return [{"stack": f"fake-{batch['nodegroup_name']}", "servers": batch["nodes"]}
                for batch in batches]

    # -- repair: the nodes "<nodegroup>-<i>", one repair per nodegroup ----------------------

    def expected_nodes(self, context, cluster, nodegroups):
        """The nodes "<nodegroup>-<i>" (masters first), server ids "server-<name>"."""
        ordered = sorted(nodegroups, key=lambda ng: ng.role != "master")
        return [base.ExpectedNode(f"{ng.name}-{i}", f"server-{ng.name}-{i}",
                                  "master" if ng.role == "master" else "worker", ng.uuid)
                for ng in ordered for i in range(ng.node_count or 0)]

    def plan_repair(self, context, cluster, nodegroups, nodes, *, cluster_template=None):
        """One repair per nodegroup holding some of `nodes`; an unknown one is refused."""
        known = {f"{ng.name}-{i}": ng for ng in nodegroups for i in range(ng.node_count or 0)}
        unknown = [n for n in nodes if n not in known]
        if unknown:
            raise exception.NodeNotFound(cluster=cluster.uuid, node=", ".join(unknown))
        repairs = {}
        for name in nodes:
            ng = known[name]
            repairs.setdefault(ng.uuid, {"nodegroup": ng.uuid, "role": ng.role,
                                         "stack": f"fake-{ng.name}", "nodes": []})
            repairs[ng.uuid]["nodes"].append(name)
        return list(repairs.values())

    def update(self, context, cluster, cluster_template, nodegroup, node_count,
               nodes_to_remove=None, rollback=False, *, credentials=None):
        state = self.update_state or base.ClusterState(
            status=fields.ClusterStatus.UPDATE_IN_PROGRESS)
        return self._act("update", state, cluster=cluster.uuid, nodegroup=nodegroup.uuid,
                         node_count=node_count, nodes_to_remove=nodes_to_remove,
                         rollback=rollback)

    def create_nodegroup(self, context, cluster, cluster_template, nodegroup, *,
                         credentials=None):
        state = self.nodegroup_create_state or base.ClusterState(
            status=fields.ClusterStatus.UPDATE_IN_PROGRESS, nodegroups={
                nodegroup.uuid: base.NodeGroupState(
                    status=fields.ClusterStatus.CREATE_IN_PROGRESS)})
        return self._act("create_nodegroup", state, cluster=cluster.uuid,
                         nodegroup=nodegroup.uuid, nodegroup_name=nodegroup.name,
                         node_count=nodegroup.node_count,
                         availability_zone=nodegroup.availability_zone,
                         with_credentials=credentials is not None)

    def delete_nodegroup(self, context, cluster, nodegroup):
        state = self.nodegroup_delete_state or base.ClusterState(
            status=fields.ClusterStatus.UPDATE_IN_PROGRESS, nodegroups={
                nodegroup.uuid: base.NodeGroupState(
                    status=fields.ClusterStatus.DELETE_IN_PROGRESS)})
        return self._act("delete_nodegroup", state, cluster=cluster.uuid,
                         nodegroup=nodegroup.uuid, nodegroup_name=nodegroup.name)

    def delete(self, context, cluster, nodegroups):
        state = self.delete_state or base.ClusterState(
            status=fields.ClusterStatus.DELETE_IN_PROGRESS)
        return self._act("delete", state, cluster=cluster.uuid,
                         nodegroups=sorted(ng.name for ng in nodegroups))

    def status_snapshot(self, context, project_id):
        with type(self)._lock:
            type(self).snapshot_calls.append(project_id)
        if self.snapshot_fail_with is not None:
            raise self.snapshot_fail_with
        return {"project": project_id}

    def get_status(self, context, cluster, nodegroups, snapshot=None, *, cluster_template=None,
                   credentials=None, operation=None):
        type(self).operations_seen.append(operation)
        hook = type(self).on_get_status  # a plain function: not bound to the instance
        if hook is not None:
            hook(context, cluster)
        answer = self.statuses.get(cluster.uuid)
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            answer = answer(cluster)
        return answer if answer is not None else base.ClusterState()

    def rotate_ca_certificate(self, context, cluster, cluster_template, nodegroups, *,
                              credentials):
        given = credentials()
        type(self).given.append(given)
        state = base.ClusterState(status=fields.ClusterStatus.UPDATE_IN_PROGRESS)
        return self._act("rotate_ca_certificate", state, cluster=cluster.uuid,
                         ca=given.cas["ca"].certificate if "ca" in given.cas else None,
                         trust_id=given.trustee.trust_id if given.trustee else None)


def install(**plugins: type) -> None:
    """Make `plugins` (name=class) the installed driver plugins, as stevedore would list them."""
    driver_factory.set_extension_manager(extension.ExtensionManager.make_test_instance(
        [extension.Extension(name, None, plugin, None) for name, plugin in plugins.items()],
        namespace=driver_factory.NAMESPACE))
