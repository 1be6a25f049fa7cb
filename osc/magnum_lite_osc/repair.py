"""`openstack coe cluster repair CLUSTER [--node NODE ...] [--force]`: replace a cluster's
unhealthy nodes (magnum-lite's repair action, microversion 1.19).

Without --node the nodes the cluster's health check shows not ready are replaced; a node
shown ready is replaced only with --force.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from osc_lib.command import command

from magnum_lite_osc import api, columns

WHAT = "`openstack coe cluster repair`"
#: The answer to an accepted repair in the default format (as the upgrade's).
ACCEPTED = "Request to repair cluster {} has been accepted."


class RepairCluster(command.ShowOne):
    _description = "Replace a cluster's unhealthy nodes (or the nodes named)"

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("cluster", metavar="<cluster>",
                            help="The name or UUID of the cluster")
        parser.add_argument("--node", metavar="<node>", action="append", dest="nodes",
                            default=None,
                            help="A node to replace (server name or id; repeat for more). "
                                 "Default: the nodes the cluster's health check shows "
                                 "not ready")
        parser.add_argument("--force", action="store_true", default=False,
                            help="Replace the nodes named even if they are shown ready")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple:
        client = api.Client(self.app)
        client.check_version(api.REPAIR, WHAT)
        cluster = client.request("GET", f"/v1/clusters/{api.quote_path(parsed_args.cluster)}",
                                 api.REPAIR, WHAT)
        body: dict[str, Any] = {}
        if parsed_args.nodes:
            body["nodes"] = parsed_args.nodes
        if parsed_args.force:
            body["force"] = True
        document = client.request("POST", f"/v1/clusters/{cluster['uuid']}/actions/repair",
                                  api.REPAIR, WHAT, body) or {"uuid": cluster["uuid"]}
        return columns.show(document)

    def produce_output(self, parsed_args: argparse.Namespace, column_names: Sequence[str],
                       data: Sequence[Any]) -> int:
        if parsed_args.formatter == "table":
            self.app.stdout.write(ACCEPTED.format(parsed_args.cluster) + "\n")
            return 0
        return super().produce_output(parsed_args, column_names, data)
