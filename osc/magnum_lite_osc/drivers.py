"""`openstack coe driver ...`: the drivers operators publish (/v1/drivers, 1.15+).

A driver is a plugin installed in the service plus its config; each change publishes a new
version, so a cluster pinned to a version keeps the config it was built with. A name means the
driver's latest version; a uuid one exact version.
"""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any

from osc_lib import exceptions
from osc_lib.cli import parseractions
from osc_lib.command import command

from magnum_lite_osc import api, columns

LOG = logging.getLogger(__name__)

WHAT = "`openstack coe driver`"
LIST_COLUMNS = ("uuid", "name", "version", "plugin_name", "public", "enabled",
                "cluster_count")
LONG_COLUMNS = (*LIST_COLUMNS, "latest_version", "config", "created_at", "updated_at")
VERSION_COLUMNS = ("uuid", "name", "version", "public", "enabled", "cluster_count",
                   "created_at")


def _path(ident: str | None = None, *children: str) -> str:
    parts = ["/v1/drivers"]
    if ident is not None:
        parts.append(api.quote_path(ident))
    parts.extend(children)
    return "/".join(parts)


def _json_object(text: str) -> dict[str, Any]:
    """argparse type of --config-json: a JSON object."""
    try:
        value = json.loads(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not JSON: {err}") from err
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object, got {text!r}")
    return value


def _add_config_options(parser: argparse.ArgumentParser, verb: str) -> None:
    parser.add_argument(
        "--config", metavar="<key=value>", action=parseractions.KeyValueAction,
        default={}, dest="config",
        help=f"{verb} one config key (the value is sent as a string; repeat for several)")
    parser.add_argument(
        "--config-json", metavar="<json-object>", type=_json_object, default=None,
        help=f"{verb} the keys of a JSON object (typed values: "
             f"'{{\"prometheus_monitoring\": true}}')")


def _add_flag_options(parser: argparse.ArgumentParser) -> None:
    public = parser.add_mutually_exclusive_group()
    public.add_argument("--public", dest="public", action="store_true", default=None,
                        help="Every project may use the driver")
    public.add_argument("--private", dest="public", action="store_false",
                        help="Only the driver's project may use it")
    enabled = parser.add_mutually_exclusive_group()
    enabled.add_argument("--enable", dest="enabled", action="store_true", default=None,
                         help="New clusters may be pinned to the driver")
    enabled.add_argument("--disable", dest="enabled", action="store_false",
                         help="No new cluster may be pinned to the driver (clusters on it "
                              "keep it)")


def _config_of(parsed_args: argparse.Namespace) -> dict[str, Any]:
    return {**(parsed_args.config_json or {}), **parsed_args.config}


def _pointer(key: str) -> str:
    """The JSON pointer of one config key (RFC 6901 escapes)."""
    return "/config/" + key.replace("~", "~0").replace("/", "~1")


class CreateDriver(command.ShowOne):
    _description = "Publish a new driver (version 1 of its name)"

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("name", metavar="<name>", help="Name of the new driver")
        parser.add_argument("--plugin", metavar="<plugin>", required=True,
                            help="Installed driver plugin that does the work "
                                 "(e.g. k8s_ubuntu_v1)")
        _add_config_options(parser, "Set")
        _add_flag_options(parser)
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple:
        body: dict[str, Any] = {"name": parsed_args.name, "plugin_name": parsed_args.plugin}
        config = _config_of(parsed_args)
        if config:
            body["config"] = config  # absent: the plugin's default config
        for name in ("public", "enabled"):
            if getattr(parsed_args, name) is not None:
                body[name] = getattr(parsed_args, name)
        document = api.Client(self.app).request("POST", _path(), api.DRIVERS, WHAT, body)
        return columns.show(document)


class ListDrivers(command.Lister):
    _description = "List drivers (the latest version of each)"

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("--long", action="store_true", default=False,
                            help="Also show the latest version, config and times")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple:
        document = api.Client(self.app).request("GET", _path(), api.DRIVERS, WHAT) or {}
        names = LONG_COLUMNS if parsed_args.long else LIST_COLUMNS
        return names, columns.rows(document.get("drivers", []), names)


class ShowDriver(command.ShowOne):
    _description = "Show a driver: by name its latest version, by uuid that version"

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("driver", metavar="<driver>",
                            help="Name (latest version) or uuid (one version) of the driver")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple:
        document = api.Client(self.app).request("GET", _path(parsed_args.driver),
                                                api.DRIVERS, WHAT)
        return columns.show(document)


class UpdateDriver(command.ShowOne):
    _description = ("Publish the next version of a driver: its latest version with the "
                    "changes given (old versions never change)")

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("driver", metavar="<driver>", help="Name of the driver")
        _add_config_options(parser, "Set")
        parser.add_argument(
            "--unset-config", metavar="<key>", action="append", default=[],
            help="Remove one config key (the plugin's default applies; repeat for several)")
        _add_flag_options(parser)
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple:
        patch: list[dict[str, Any]] = [
            {"op": "add", "path": _pointer(key), "value": value}
            for key, value in _config_of(parsed_args).items()]
        patch += [{"op": "remove", "path": _pointer(key)} for key in parsed_args.unset_config]
        for name in ("public", "enabled"):
            if getattr(parsed_args, name) is not None:
                patch.append({"op": "replace", "path": f"/{name}",
                              "value": getattr(parsed_args, name)})
        if not patch:
            raise exceptions.CommandError(
                "Nothing to change: give --config, --config-json, --unset-config, "
                "--public/--private or --enable/--disable.")
        document = api.Client(self.app).request("PATCH", _path(parsed_args.driver),
                                                api.DRIVERS, WHAT, patch)
        return columns.show(document)


class DeleteDriver(command.Command):
    _description = ("Delete drivers: by name every version, by uuid one version (refused "
                    "while a cluster uses it)")

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("drivers", metavar="<driver>", nargs="+",
                            help="Name or uuid of a driver to delete")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> None:
        client = api.Client(self.app)
        failed = 0
        for ident in parsed_args.drivers:
            try:
                client.request("DELETE", _path(ident), api.DRIVERS, WHAT)
            except exceptions.CommandError:
                raise  # the server is too old: the same for every driver
            except Exception as err:
                failed += 1
                LOG.error("Failed to delete driver %s: %s", ident, err)
        if failed:
            raise exceptions.CommandError(
                f"{failed} of {len(parsed_args.drivers)} drivers failed to delete.")


class ListDriverVersions(command.Lister):
    _description = "List the versions of a driver, oldest first"

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("driver", metavar="<driver>", help="Name of the driver")
        parser.add_argument("--long", action="store_true", default=False,
                            help="Also show each version's plugin and config")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple:
        document = api.Client(self.app).request(
            "GET", _path(parsed_args.driver, "versions"), api.DRIVERS, WHAT) or {}
        names = VERSION_COLUMNS
        if parsed_args.long:
            names = (*names, "plugin_name", "config")
        return names, columns.rows(document.get("drivers", []), names)
