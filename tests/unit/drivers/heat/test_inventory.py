"""A cluster's stacks found in one listing, and the states they give (inventory.py)."""

import types

import pytest

from magnum_lite.common import exception
from magnum_lite.drivers.heat import inventory, names, stacks


def _summary(name, status="CREATE_COMPLETE"):
    return stacks.StackSummary(id=f"id-{name}", name=name, status=status, reason="")


CLUSTER = types.SimpleNamespace(name="demo", uuid="5f0c1d52-0000-4000-8000-000000000001")
GROUP = types.SimpleNamespace(name="gpu", uuid="7a1e2b63-0000-4000-8000-000000000002",
                              role="worker")
OTHER = types.SimpleNamespace(name="cpu", uuid="8b2f3c74-0000-4000-8000-000000000003",
                              role="worker")
MASTERS = types.SimpleNamespace(name="masters", uuid="9c304d85-0000-4000-8000-000000000004",
                                role="master")


def _listing(kind):
    listing = kind()
    for name in (names.cluster_stack_name(CLUSTER),
                 names.nodegroup_stack_name(CLUSTER, GROUP, 0),
                 names.nodegroup_stack_name(CLUSTER, GROUP, 1),
                 names.nodegroup_stack_name(CLUSTER, OTHER, 0),
                 names.nodegroup_stack_prefix(CLUSTER, GROUP) + "x",
                 "another-cluster-ng-0"):
        listing[name] = _summary(name)
    return listing


@pytest.mark.parametrize("kind", [dict, stacks.StackListing])
def test_chunk_stacks_are_found_by_name_with_or_without_the_index(kind):
    listing = _listing(kind)
    assert sorted(inventory.chunk_stacks(CLUSTER, GROUP, listing)) == [0, 1]
    assert sorted(inventory.chunk_stacks(CLUSTER, OTHER, listing)) == [0]
    assert len(inventory.worker_stacks(CLUSTER, listing)) == 4  # the odd name included


def test_split_and_refuse_masters():
    assert inventory.split([GROUP, MASTERS, OTHER]) == (MASTERS, [GROUP, OTHER])
    with pytest.raises(exception.InvalidParameterValue, match="no master nodegroup"):
        inventory.split([GROUP])
    inventory.refuse_masters(GROUP, "nodegroup:", "cannot be resized")
    with pytest.raises(exception.InvalidParameterValue,
                       match="^nodegroup: masters holds masters, which cannot be resized$"):
        inventory.refuse_masters(MASTERS, "nodegroup:", "cannot be resized")


def test_building_and_first_failed():
    found = {0: _summary("a"), 1: _summary("b", "UPDATE_FAILED"),
             2: _summary("c", "DELETE_FAILED")}
    assert not inventory.building(found)
    assert inventory.first_failed(found).name == "b"
    assert inventory.first_failed(found, "DELETE_FAILED").name == "c"
    assert inventory.first_failed({0: _summary("a")}) is None
    assert inventory.building({0: _summary("a", "UPDATE_IN_PROGRESS")})
