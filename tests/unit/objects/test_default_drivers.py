"""Seeding the default driver of every installed plugin at database setup."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from magnum_lite import objects
from magnum_lite.common import context as ctx
from magnum_lite.common import driver_factory
from magnum_lite.objects import driver as driver_object
from tests.unit.drivers import fake_plugin


class OtherDriver(fake_plugin.FakeDriver):
    provides = [("vm", "fedora", "swarm-mode")]

    @classmethod
    def get_default_config(cls) -> dict:
        return {"flavor": "m1.large"}


@pytest.fixture(autouse=True)
def plugins() -> Iterator[None]:
    fake_plugin.install(fake=fake_plugin.FakeDriver, other=OtherDriver)
    yield
    driver_factory.set_extension_manager(None)


def _rows() -> list[tuple]:
    return [(d.name, d.version, d.plugin_name, d.public, d.enabled, d.config)
            for d in objects.Driver.list(ctx.get_admin_context(), include_deleted=True)]


def test_every_plugin_gets_version_1_of_a_public_default_driver(db):
    created = driver_object.seed_default_drivers()
    assert sorted(d.name for d in created) == ["fake", "other"]
    assert _rows() == [("fake", 1, "fake", True, True, {"flavor": "m1.small"}),
                       ("other", 1, "other", True, True, {"flavor": "m1.large"})]


def test_seeding_again_changes_nothing(db):
    driver_object.seed_default_drivers()
    before = _rows()
    assert driver_object.seed_default_drivers() == []
    assert _rows() == before


def test_a_newly_installed_plugin_gets_its_default_on_the_next_run(db):
    fake_plugin.install(fake=fake_plugin.FakeDriver)
    driver_object.seed_default_drivers()
    fake_plugin.install(fake=fake_plugin.FakeDriver, other=OtherDriver)
    assert [d.name for d in driver_object.seed_default_drivers()] == ["other"]


def test_a_deleted_default_is_not_brought_back(db):
    context = ctx.get_admin_context()
    driver_object.seed_default_drivers()
    objects.Driver.soft_delete([objects.Driver.get_latest(context, "fake")])
    assert driver_object.seed_default_drivers() == []
    assert [d.name for d in objects.Driver.list(context)] == ["other"]


def test_a_name_with_newer_versions_keeps_them(db):
    context = ctx.get_admin_context()
    driver_object.seed_default_drivers()
    objects.Driver(context, name="fake", plugin_name="fake", config={"flavor": "x"}).create()
    driver_object.seed_default_drivers()
    assert [d.version for d in objects.Driver.list(context, name="fake")] == [1, 2]


@pytest.mark.parametrize("revision,seeded", [("head", ["fake", "other"]), ("abc123", [])])
def test_manage_db_upgrade_seeds_the_defaults_at_head(db, monkeypatch, revision, seeded):
    """`magnum-lite-manage db upgrade` seeds once the schema is complete, and only then."""
    import types

    from magnum_lite.cmd import manage

    monkeypatch.setattr(manage, "CONF", types.SimpleNamespace(
        command=types.SimpleNamespace(revision=revision)))
    monkeypatch.setattr(manage.migration, "upgrade", lambda revision="head": None)
    monkeypatch.setattr(manage.migration, "version", lambda: revision)
    for _ in range(2):
        assert manage.do_db_upgrade() == 0
        assert [row[0] for row in _rows()] == seeded
