"""The plugin registry: finding driver plugins by name, by what they provide, and for a
cluster or template (by its Driver row, else by its template's triple)."""

from collections.abc import Iterator
import types

import pytest
from stevedore import extension

from magnum_lite.common import driver_factory
from magnum_lite.drivers import base
from tests.unit.drivers import fake_plugin


@pytest.fixture(autouse=True)
def no_plugins() -> Iterator[None]:
    fake_plugin.install()
    yield
    driver_factory.set_extension_manager(None)


class OtherDriver(fake_plugin.FakeDriver):
    provides = [("vm", "fedora", "swarm-mode"), ("bm", "fedora", "swarm-mode")]


def test_with_no_plugin_installed_nothing_is_found():
    assert driver_factory.list_plugins() == {}
    assert driver_factory.find_plugin("vm", "ubuntu", "kubernetes") is None
    assert driver_factory.get_plugin("fake") is None


def test_a_plugin_is_found_by_what_it_provides():
    fake_plugin.install(fake=fake_plugin.FakeDriver, other=OtherDriver)
    assert driver_factory.find_plugin("vm", "ubuntu", "kubernetes") == (
        "fake", fake_plugin.FakeDriver)
    assert driver_factory.find_plugin("bm", "fedora", "swarm-mode") == ("other", OtherDriver)


def test_matching_ignores_case_and_surrounding_space():
    fake_plugin.install(fake=fake_plugin.FakeDriver)
    assert driver_factory.find_plugin("VM", " Ubuntu ", "Kubernetes") == (
        "fake", fake_plugin.FakeDriver)


@pytest.mark.parametrize("triple", [
    ("vm", None, "kubernetes"),
    ("bm", "ubuntu", "kubernetes"),
    ("vm", "ubuntu", "mesos"),
    (None, None, None),
])
def test_nothing_matches_a_triple_nobody_provides(triple):
    fake_plugin.install(fake=fake_plugin.FakeDriver)
    assert driver_factory.find_plugin(*triple) is None


def test_a_plugin_is_found_by_its_entry_point_name():
    fake_plugin.install(fake=fake_plugin.FakeDriver)
    assert driver_factory.get_plugin("fake") is fake_plugin.FakeDriver
    assert driver_factory.get_plugin("nope") is None


def test_two_plugins_providing_one_triple_resolve_to_the_first_name(caplog):
    class TwinDriver(fake_plugin.FakeDriver):
        """Claims the same triple as FakeDriver."""

    fake_plugin.install(zeta=fake_plugin.FakeDriver, alpha=TwinDriver)
    assert driver_factory.find_plugin("vm", "ubuntu", "kubernetes") == ("alpha", TwinDriver)
    assert "all provide" in caplog.text


def test_a_driver_row_names_the_plugin_and_its_config():
    fake_plugin.install(fake=fake_plugin.FakeDriver, other=OtherDriver)
    row = types.SimpleNamespace(plugin_name="other", config={"flavor": "big"})
    template = types.SimpleNamespace(server_type="vm", cluster_distro="ubuntu",
                                     coe="kubernetes")
    assert driver_factory.plugin_for(row, template) == ("other", OtherDriver, {"flavor": "big"})
    gone = types.SimpleNamespace(plugin_name="gone", config={})
    assert driver_factory.plugin_for(gone, template) == ("gone", None, {})


def test_without_a_driver_row_the_template_triple_chooses_with_the_default_config():
    fake_plugin.install(fake=fake_plugin.FakeDriver, other=OtherDriver)
    template = types.SimpleNamespace(server_type="bm", cluster_distro="Fedora",
                                     coe="swarm-mode")
    assert driver_factory.plugin_for(None, template) == ("other", OtherDriver, None)
    template.coe = "mesos"
    assert driver_factory.plugin_for(None, template) == (None, None, None)


def test_an_entry_point_that_is_not_a_driver_is_ignored(caplog):
    driver_factory.set_extension_manager(extension.ExtensionManager.make_test_instance(
        [extension.Extension("junk", None, object, None)]))
    assert driver_factory.list_plugins() == {}
    assert "is not a magnum_lite.drivers.base.Driver" in caplog.text


def test_installed_entry_points_are_read_and_every_one_is_a_driver():
    driver_factory.set_extension_manager(None)
    manager = driver_factory.get_extension_manager()
    assert manager.namespace == driver_factory.NAMESPACE
    for plugin in driver_factory.list_plugins().values():
        assert issubclass(plugin, base.Driver)


def test_the_interface_cannot_be_instantiated_without_every_method():
    class Partial(base.Driver):
        @classmethod
        def get_default_config(cls):
            return {}

    with pytest.raises(TypeError, match="abstract"):
        Partial()


def test_a_driver_is_bound_to_its_config_or_the_default():
    assert fake_plugin.FakeDriver().config == {"flavor": "m1.small"}
    assert fake_plugin.FakeDriver({"flavor": "big"}).config == {"flavor": "big"}


def test_a_plugin_says_no_version_and_allows_any_upgrade_step_unless_it_knows_better():
    plugin = fake_plugin.FakeDriver({"flavor": "m1.small"})
    # The base's answer (the fake plugin says the kube_tag label of the cluster it is given).
    assert driver_factory.Plugin.coe_version(plugin, object(), object()) is None
    for step in ((None, None), ("1.0", "9.0"), ("2.0", "1.0")):
        assert fake_plugin.FakeDriver.check_upgrade(*step) is None
