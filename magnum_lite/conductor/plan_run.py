"""What the runners of a plan kept on an operation record share (conductor/upgrade.py,
conductor/repair.py): the cluster's COE client, letting nodes in again, and how a run ends
early."""

from __future__ import annotations

from typing import Any

from oslo_log import log as logging

from magnum_lite.common import exception
from magnum_lite.drivers import base as drivers_base

LOG = logging.getLogger(__name__)


class Failed(Exception):
    """Why a run cannot go on: its operation ends in UPDATE_FAILED with `fault`."""

    def __init__(self, reason: str, fault: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fault = fault


class PlanRun:
    """One round of a plan the reconciler follows, read from its operation record."""

    def __init__(self, context: Any, driver: drivers_base.Driver, cluster: Any,
                 template: Any, operation: Any,
                 credentials: drivers_base.CredentialsLoader) -> None:
        self.context = context
        self.driver = driver
        self.cluster = cluster
        self.template = template
        self.operation = operation
        self.credentials = credentials
        self.plan = dict(operation.plan or {})

    def _coe(self) -> drivers_base.CoeNodes | None:
        """The cluster's COE client; None when its plugin has none (nothing to drain)."""
        try:
            return self.driver.coe_nodes(self.cluster, self.template,
                                         credentials=self.credentials)
        except exception.NotSupported:
            return None

    def _uncordon(self, names: list[str]) -> bool:
        """Let the nodes take work again; False while the COE refuses (asked again)."""
        coe = self._coe()
        if coe is None:
            return True
        try:
            coe.uncordon(names)
        except exception.CoeError as err:
            LOG.info("Cluster %s: cannot uncordon %s yet: %s", self.cluster.uuid,
                     ", ".join(names), err)
            return False
        return True
