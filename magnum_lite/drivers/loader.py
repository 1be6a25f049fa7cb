"""Finds installed driver plugins: stevedore entry points in the `magnum_lite.drivers` group."""

from __future__ import annotations

import threading
from typing import Any

from oslo_log import log as logging
from stevedore import extension

from magnum_lite.drivers import base

LOG = logging.getLogger(__name__)

NAMESPACE = "magnum_lite.drivers"

_LOCK = threading.Lock()
_MANAGER: extension.ExtensionManager | None = None


def _on_load_failure(manager: Any, entry_point: Any, err: Exception) -> None:
    # One broken plugin must not take the others (or the conductor) down with it.
    LOG.error("Driver plugin %s (%s) could not be loaded: %s", entry_point.name,
              entry_point.value, err)


def get_extension_manager() -> extension.ExtensionManager:
    """The installed plugins, read from the entry points once per process."""
    global _MANAGER
    with _LOCK:
        if _MANAGER is None:
            _MANAGER = extension.ExtensionManager(NAMESPACE, invoke_on_load=False,
                                                  on_load_failure_callback=_on_load_failure)
        return _MANAGER


def set_extension_manager(manager: extension.ExtensionManager | None) -> None:
    """Use `manager` instead of the entry points (tests); None reads them again."""
    global _MANAGER
    with _LOCK:
        _MANAGER = manager


def list_plugins() -> dict[str, type[base.Driver]]:
    """Plugin name -> plugin class, for every installed plugin that implements the interface."""
    plugins = {}
    for ext in get_extension_manager():
        if isinstance(ext.plugin, type) and issubclass(ext.plugin, base.Driver):
            plugins[ext.name] = ext.plugin
        else:
            LOG.error("Driver plugin %s is not a magnum_lite.drivers.base.Driver; ignored",
                      ext.name)
    return plugins


def get_plugin(name: str) -> type[base.Driver] | None:
    """The plugin class installed under `name`, or None."""
    return list_plugins().get(name)


def _normalise(value: Any) -> str | None:
    return None if value is None else str(value).strip().lower()


def find_plugin(server_type: str | None, os: str | None,
                coe: str | None) -> tuple[str, type[base.Driver]] | None:
    """(name, class) of the plugin that provides (server_type, os, coe), or None.

    Matching ignores case ("Ubuntu" is "ubuntu"). Should two plugins claim the same triple,
    the first by name wins and the conflict is logged.
    """
    wanted = (_normalise(server_type), _normalise(os), _normalise(coe))
    if None in wanted:
        return None
    matches = sorted(
        (name, plugin) for name, plugin in list_plugins().items()
        if any(tuple(_normalise(v) for v in triple) == wanted for triple in plugin.provides))
    if len(matches) > 1:
        LOG.warning("Driver plugins %s all provide %s; using %s",
                    ", ".join(name for name, _ in matches), wanted, matches[0][0])
    return matches[0] if matches else None
