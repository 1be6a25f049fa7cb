"""`openstack coe cluster event list`: a cluster's history (/v1/clusters/{id}/events, 1.16+).

Every operation and status change, newest first; after a delete an admin still reads them by
the cluster's uuid.
"""

from __future__ import annotations

import argparse

from osc_lib.command import command

from magnum_lite_osc import api, columns

WHAT = "`openstack coe cluster event list`"
LIST_COLUMNS = ("created_at", "event_type", "status", "status_reason", "cluster_version")
LONG_COLUMNS = ("uuid", *LIST_COLUMNS, "user_id", "request_id")


class ListClusterEvents(command.Lister):
    _description = "List a cluster's events, newest first"

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("cluster", metavar="<cluster>",
                            help="Name or uuid of the cluster (uuid: also a deleted one, "
                                 "for admins)")
        parser.add_argument("--limit", metavar="<limit>", type=int, default=None,
                            help="At most this many events (one page; default: every event)")
        parser.add_argument("--marker", metavar="<event-uuid>", default=None,
                            help="Start after this event")
        parser.add_argument("--sort-dir", choices=("asc", "desc"), default=None,
                            help="asc: oldest first; desc (default): newest first")
        parser.add_argument("--long", action="store_true", default=False,
                            help="Also show each event's uuid, user and request")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple:
        path = f"/v1/clusters/{api.quote_path(parsed_args.cluster)}/events"
        events = api.Client(self.app).list_all(
            path, "events", api.EVENTS, WHAT,
            query={"marker": parsed_args.marker, "sort_dir": parsed_args.sort_dir},
            limit=parsed_args.limit)
        names = LONG_COLUMNS if parsed_args.long else LIST_COLUMNS
        return names, columns.rows(events, names)
