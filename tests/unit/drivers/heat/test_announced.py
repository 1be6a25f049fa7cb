"""A create's end that Heat announced before storing it shows in the stack listings."""

import types

import pytest

from magnum_lite.conductor import heat_events
from magnum_lite.drivers.heat import announced, names, stacks
from tests.fakes.heat import FakeHeatCloud
from tests.unit.drivers.heat.conftest import PROJECT
from tests.unit.drivers.heat.test_stacks import _create


@pytest.fixture
def cloud():
    announced.forget()
    yield FakeHeatCloud()
    announced.forget()


@pytest.fixture
def client(cloud):
    return cloud.client_for(types.SimpleNamespace(project_id=PROJECT))


def _payload(stack_id, state, name="s1", reason="Stack CREATE completed successfully"):
    """The fields of Heat's notification payload (engine/api.py format_notification_body)
    that are read."""
    return {"stack_identity": stack_id, "stack_name": name, "state": state,
            "state_reason": reason, "tags": [names.STACK_TAG], "tenant_id": PROJECT}


def test_a_create_s_announced_end_shows_until_heat_stores_it(cloud, client):
    stack_id = _create(client)
    assert stacks.list_stacks(client)["s1"].status == "CREATE_IN_PROGRESS"
    assert announced.record(_payload(stack_id, "CREATE_COMPLETE"))
    listed = stacks.list_stacks(client)["s1"]
    assert (listed.id, listed.status, listed.reason) == (
        stack_id, "CREATE_COMPLETE", "Stack CREATE completed successfully")
    assert stacks.list_stacks(client)["s1"].complete  # kept while Heat is behind
    cloud.complete(stack_id)
    assert stacks.list_stacks(client)["s1"].status == "CREATE_COMPLETE"
    # Heat caught up: the announcement is gone, and Heat's later states show as they are.
    stack = cloud.stack(stack_id)
    stack.action, stack.state = "UPDATE", "IN_PROGRESS"
    assert stacks.list_stacks(client)["s1"].status == "UPDATE_IN_PROGRESS"


def test_a_failed_create_shows_with_heat_s_reason(client):
    stack_id = _create(client)
    announced.record(_payload(stack_id, "CREATE_FAILED", reason="Resource CREATE failed"))
    listed = stacks.list_stacks(client)["s1"]
    assert (listed.status, listed.reason) == ("CREATE_FAILED", "Resource CREATE failed")


@pytest.mark.parametrize("state", ["UPDATE_COMPLETE", "DELETE_COMPLETE", "UPDATE_FAILED",
                                   "CREATE_IN_PROGRESS", None])
def test_other_states_are_left_to_heat_s_listing(client, state):
    """An update or delete may be superseded by a newer one of the same stack, whose old
    notification must not pass for the new outcome."""
    stack_id = _create(client)
    assert not announced.record(_payload(stack_id, state))
    assert stacks.list_stacks(client)["s1"].status == "CREATE_IN_PROGRESS"


@pytest.mark.parametrize("payload", [None, "text", {"state": "CREATE_COMPLETE"},
                                     {"state": "CREATE_COMPLETE", "stack_name": "s1",
                                      "stack_identity": 5}])
def test_a_payload_without_a_stack_is_not_taken(payload):
    assert not announced.record(payload)


def test_an_announcement_of_another_stack_of_that_name_is_dropped(client):
    """A stack deleted and made again under its name: the old one's end does not apply."""
    stack_id = _create(client)
    announced.record(_payload("a-stack-deleted-since", "CREATE_COMPLETE"))
    assert stacks.list_stacks(client)["s1"].status == "CREATE_IN_PROGRESS"
    announced.record(_payload(stack_id, "CREATE_COMPLETE"))
    assert stacks.list_stacks(client)["s1"].status == "CREATE_COMPLETE"


def test_an_announcement_no_listing_uses_expires(client, monkeypatch):
    stack_id = _create(client)
    announced.record(_payload(stack_id, "CREATE_COMPLETE"))
    now = announced.time.monotonic()
    monkeypatch.setattr(announced.time, "monotonic", lambda: now + announced.KEPT_SECONDS + 1)
    assert stacks.list_stacks(client)["s1"].status == "CREATE_IN_PROGRESS"


def test_the_oldest_announcements_go_first_beyond_the_limit(client, monkeypatch):
    monkeypatch.setattr(announced, "MAX_KEPT", 2)
    first, second = _create(client, "s1"), _create(client, "s2")
    announced.record(_payload(first, "CREATE_COMPLETE", name="s1"))
    announced.record(_payload(second, "CREATE_COMPLETE", name="s2"))
    announced.record(_payload("x", "CREATE_COMPLETE", name="s3"))
    listing = stacks.list_stacks(client)
    assert (listing["s1"].status, listing["s2"].status) == (
        "CREATE_IN_PROGRESS", "CREATE_COMPLETE")


def test_the_conductor_s_listener_hands_a_cluster_stack_s_end_over(cloud, client):
    """The notification starts a check that lists the stack complete at once, although
    Heat has not stored it (Heat 27 sends it first)."""
    cluster_uuid = "9f6c2b8e-4f5d-4b8a-9a57-3c1f0e2d7b61"
    name = names.cluster_stack_name(types.SimpleNamespace(uuid=cluster_uuid, name="demo"))
    stack_id = _create(client, name)
    seen = []

    def sync(uuid):
        seen.append((uuid, stacks.list_stacks(client)[name].status))
        return True

    heat_events.StackEndpoint(sync).info({}, "orchestration.heat", "orchestration.stack."
                                         "create.end", _payload(stack_id, "CREATE_COMPLETE",
                                                                name=name), {})
    assert seen == [(cluster_uuid, "CREATE_COMPLETE")]
    assert cloud.stack(stack_id).status == "CREATE_IN_PROGRESS"
