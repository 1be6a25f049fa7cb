"""A driver plugin for tests, and a way to install plugins without entry points."""

from __future__ import annotations

import threading
from typing import Any

from stevedore import extension

from magnum_lite.common import exception
from magnum_lite.drivers import base, loader
from magnum_lite.objects import fields


class FakeDriver(base.Driver):
    """Provides Kubernetes on Ubuntu VMs; records calls; can be told to fail or to block."""

    provides = [("vm", "ubuntu", "kubernetes")]

    calls: list[tuple[str, dict]] = []
    fail_with: Exception | None = None
    block: threading.Event | None = None
    started: threading.Event | None = None

    @classmethod
    def reset(cls) -> None:
        cls.calls = []
        cls.fail_with = None
        cls.block = None
        cls.started = None

    @classmethod
    def get_default_config(cls) -> dict[str, Any]:
        return {"flavor": "m1.small"}

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        if "flavor" not in config:
            raise exception.InvalidParameterValue(err="config needs a flavor")

    def _act(self, name: str, state: base.ClusterState, **kwargs: Any) -> base.ClusterState:
        type(self).calls.append((name, {"config": self.config, **kwargs}))
        if self.started is not None:
            self.started.set()
        if self.block is not None:
            self.block.wait(10)
        if self.fail_with is not None:
            raise self.fail_with
        return state

    def create_dry_run(self, context, cluster, cluster_template):
        return {}

    def create(self, context, cluster, cluster_template, timeout):
        return self._act("create", base.ClusterState(
            status=fields.ClusterStatus.CREATE_IN_PROGRESS, stack_id="stack-1"),
            cluster=cluster.uuid, timeout=timeout)

    def update_dry_run(self, context, cluster, cluster_template, node_count):
        return {}

    def update(self, context, cluster, cluster_template, node_count, rollback=False):
        return self._act("update", base.ClusterState(
            status=fields.ClusterStatus.UPDATE_IN_PROGRESS),
            cluster=cluster.uuid, node_count=node_count, rollback=rollback)

    def upgrade(self, context, cluster, cluster_template, max_batch_size, nodegroup):
        return base.ClusterState()

    def delete(self, context, cluster):
        return self._act("delete", base.ClusterState(
            status=fields.ClusterStatus.DELETE_IN_PROGRESS), cluster=cluster.uuid)

    def get_status(self, context, cluster):
        return base.ClusterState()

    def get_scale_manager(self, context, cluster):
        return None

    def get_monitor(self, context, cluster):
        return None

    def rotate_ca_certificate(self, context, cluster):
        return None


def install(**plugins: type) -> None:
    """Make `plugins` (name=class) the installed driver plugins, as stevedore would list them."""
    loader.set_extension_manager(extension.ExtensionManager.make_test_instance(
        [extension.Extension(name, None, plugin, None) for name, plugin in plugins.items()],
        namespace=loader.NAMESPACE))
