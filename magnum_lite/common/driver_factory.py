"""The driver plugin registry: which installed plugin serves a cluster or a template.

Plugins are stevedore entry points in the `magnum_lite.drivers` group; the entry point's name is
the plugin name a Driver row's `plugin_name` refers to. The registry lives here, below every
layer that asks (the API validating a template or cluster, objects seeding default Driver rows,
the conductor running a cluster), so that none of them imports `magnum_lite.drivers`: the plugin
classes come from the entry points. `Plugin` is the part of the plugin interface those layers
use (configuration and validation); `magnum_lite.drivers.base.Driver` extends it with the
operations only the conductor calls.
"""

from __future__ import annotations

import abc
import threading
from typing import Any, ClassVar

from oslo_log import log as logging
from stevedore import extension

LOG = logging.getLogger(__name__)

NAMESPACE = "magnum_lite.drivers"

# (server_type, os, coe), e.g. ("vm", "ubuntu", "kubernetes"); os is a template's cluster_distro.
Provides = tuple[str, str, str]

_LOCK = threading.Lock()
_MANAGER: extension.ExtensionManager | None = None


class Plugin(abc.ABC):
    """What every layer may ask of a driver plugin: what it builds, its configuration, and
    its refusals of a template or cluster before anything is stored.

    An instance is bound to one Driver version's `config` (already checked by
    `validate_config`), so two versions of one plugin can run side by side.
    """

    #: The (server_type, os, coe) triples this plugin builds clusters for.
    provides: ClassVar[list[Provides]] = []

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config = dict(self.get_default_config() if config is None else config)

    @classmethod
    @abc.abstractmethod
    def get_default_config(cls) -> dict[str, Any]:
        """The config of the default Driver version made for this plugin at database setup."""

    @classmethod
    @abc.abstractmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        """Refuse a Driver version's config before it is stored.

        :raises magnum_lite.common.exception.InvalidParameterValue: saying what is wrong.
        """

    def validate_template(self, cluster_template: Any) -> None:
        """Refuse a template's setting this plugin cannot build with (a storage driver it
        cannot install) when the template is stored, not only when a cluster is made of it.

        :raises magnum_lite.common.exception.InvalidParameterValue: naming the field.
        """
        return None  # nothing to refuse unless a plugin says so

    def validate_cluster(self, cluster: Any, cluster_template: Any,
                         nodegroups: list[Any]) -> None:
        """Refuse a cluster this plugin cannot build (an even master count for a COE that
        needs a quorum, a setting it cannot apply) before anything is stored.

        :raises magnum_lite.common.exception.InvalidParameterValue: naming the field.
        """
        return None  # nothing to refuse unless a plugin says so

    def coe_version(self, cluster: Any, cluster_template: Any) -> str | None:
        """The COE version a cluster of `cluster_template` runs with this version's config
        (None: the plugin does not say)."""
        return None

    @classmethod
    def check_upgrade(cls, from_version: str | None, to_version: str | None) -> None:
        """Refuse an upgrade from the COE version `from_version` to `to_version` that the
        COE cannot do in one step (None: not known), before anything is stored.

        :raises magnum_lite.common.exception.InvalidParameterValue: naming `cluster_template`.
        """
        return None  # any step is fine unless a plugin says otherwise


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


def list_plugins() -> dict[str, type[Plugin]]:
    """Plugin name -> plugin class, for every installed plugin that implements the interface."""
    plugins = {}
    for ext in get_extension_manager():
        if isinstance(ext.plugin, type) and issubclass(ext.plugin, Plugin):
            plugins[ext.name] = ext.plugin
        else:
            LOG.error("Driver plugin %s is not a magnum_lite.drivers.base.Driver; ignored",
                      ext.name)
    return plugins


def get_plugin(name: str) -> type[Plugin] | None:
    """The plugin class installed under `name`, or None."""
    return list_plugins().get(name)


def _normalise(value: Any) -> str | None:
    return None if value is None else str(value).strip().lower()


def find_plugin(server_type: str | None, os: str | None,
                coe: str | None) -> tuple[str, type[Plugin]] | None:
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


def plugin_for(driver: Any, template: Any) -> tuple[str | None, type[Plugin] | None,
                                                   dict | None]:
    """(plugin name, class, config) serving a cluster or template; the class is None when
    that plugin is not installed, the name None when no plugin is named or provides it.

    `driver` is the Driver row (its `plugin_name` and `config`) a cluster is pinned to or a
    template names; without one (None), the plugin that provides the template's
    (server_type, cluster_distro, coe), with its default config (None).
    """
    if driver is not None:
        return driver.plugin_name, get_plugin(driver.plugin_name), driver.config
    found = find_plugin(template.server_type, template.cluster_distro, template.coe)
    return (found[0], found[1], None) if found else (None, None, None)
