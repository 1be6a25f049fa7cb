"""`openstack coe cluster upgrade`: python-magnumclient's command, plus magnum-lite's targets.

python-magnumclient's form keeps working as it did: `CLUSTER TEMPLATE [--max-batch-size N]
[--nodegroup NG]`, the same request at the same microversion, the same line printed. From
microversion 1.17 the template may be left out for `--driver-version N|latest` (a version of
the cluster's driver), replaced by `--rollback` (back to before the last upgrade; while that
upgrade runs, it stops after its batch in progress and takes back what it moved), and any of
them may be a `--dry-run` (the plan is shown, nothing is done).

This command replaces python-magnumclient's of the same name: it is registered in the
`openstack.extension` group, which the `openstack` shell loads after every API's group.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from osc_lib import exceptions
from osc_lib.command import command

from magnum_lite_osc import api, columns

WHAT = "`openstack coe cluster upgrade`"
WHAT_1_17 = "`openstack coe cluster upgrade` with --driver-version, --rollback or --dry-run"
#: python-magnumclient's answer to an accepted upgrade (scripts may look for it).
ACCEPTED = "Request to upgrade cluster {} has been accepted."


def _driver_version(text: str) -> int | str:
    """argparse type of --driver-version: a positive integer or "latest"."""
    if text.strip().lower() == api.LATEST:
        return api.LATEST
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a version number (1, 2, ...) or "
                                         f"'latest', got {text!r}")
    return value


class UpgradeCluster(command.ShowOne):
    _description = ("Upgrade a cluster to a cluster template, to a version of its driver, "
                    "or back (rollback); --dry-run shows the plan")

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        # python-magnumclient's arguments, with the same names and defaults.
        parser.add_argument("cluster", metavar="<cluster>",
                            help="The name or UUID of cluster to update")
        parser.add_argument("cluster_template", metavar="<cluster_template>", nargs="?",
                            default=None,
                            help="The new cluster template ID will be upgraded to "
                                 "(optional with --driver-version; not with --rollback)")
        parser.add_argument("--max-batch-size", metavar="<max_batch_size>", type=int,
                            default=None,
                            help="The max batch size for upgrading each time (default 1; "
                                 "a rollback: the batch size of the upgrade it undoes)")
        parser.add_argument("--nodegroup", metavar="<nodegroup>",
                            help="The name or UUID of the nodegroup of current cluster.")
        # magnum-lite's (microversion 1.17).
        target = parser.add_mutually_exclusive_group()
        target.add_argument("--driver-version", metavar="<version>", type=_driver_version,
                            default=None,
                            help="Upgrade to this version of the cluster's driver (a number "
                                 "or 'latest'); with a template, the template's driver must "
                                 "be the cluster's")
        target.add_argument("--rollback", action="store_true", default=False,
                            help="Go back to the template and driver version of before the "
                                 "cluster's last upgrade (an upgrade still running stops "
                                 "after its batch in progress and takes back what it "
                                 "moved)")
        parser.add_argument("--dry-run", action="store_true", default=False,
                            help="Show the plan (batches, each node's from and to) and do "
                                 "nothing")
        return parser

    def _body(self, parsed_args: argparse.Namespace) -> dict[str, Any]:
        if parsed_args.rollback and parsed_args.cluster_template is not None:
            raise exceptions.CommandError(
                "--rollback goes back to the template the cluster had before its last "
                "upgrade: give no cluster template with it.")
        if (parsed_args.cluster_template is None and parsed_args.driver_version is None
                and not parsed_args.rollback):
            raise exceptions.CommandError(
                "Give the cluster template to upgrade to, --driver-version or --rollback.")
        body: dict[str, Any] = {}
        if parsed_args.cluster_template is not None:
            body["cluster_template"] = parsed_args.cluster_template
        if parsed_args.max_batch_size is not None:
            body["max_batch_size"] = parsed_args.max_batch_size
        elif not parsed_args.rollback:
            body["max_batch_size"] = 1  # python-magnumclient always sends it
        if parsed_args.nodegroup:
            body["nodegroup"] = parsed_args.nodegroup
        if parsed_args.driver_version is not None:
            body["driver_version"] = parsed_args.driver_version
        if parsed_args.rollback:
            body["rollback"] = True
        if parsed_args.dry_run:
            body["dry_run"] = True
        return body

    def take_action(self, parsed_args: argparse.Namespace) -> tuple:
        body = self._body(parsed_args)
        newer = {"driver_version", "rollback", "dry_run"} & set(body)
        minimum, what = (api.UPGRADE_BY_DRIVER_VERSION, WHAT_1_17) if newer else \
            (api.UPGRADE, WHAT)
        client = api.Client(self.app)
        client.check_version(minimum, what)
        # As python-magnumclient: the cluster first (its uuid; a clear 404 by name).
        cluster = client.request("GET", f"/v1/clusters/{api.quote_path(parsed_args.cluster)}",
                                 api.UPGRADE, WHAT)
        document = client.request("POST", f"/v1/clusters/{cluster['uuid']}/actions/upgrade",
                                  minimum, what, body) or {"uuid": cluster["uuid"]}
        return columns.show(document)

    def produce_output(self, parsed_args: argparse.Namespace, column_names: Sequence[str],
                       data: Sequence[Any]) -> int:
        """An accepted upgrade in the default (table) format: python-magnumclient's line."""
        if not parsed_args.dry_run and parsed_args.formatter == "table":
            self.app.stdout.write(ACCEPTED.format(parsed_args.cluster) + "\n")
            return 0
        return super().produce_output(parsed_args, column_names, data)
