"""Heat calls and the translation of Heat's errors into ours."""

import threading
import types

from heatclient import exc as heat_exc
from keystoneauth1 import exceptions as ks_exceptions
import pytest

from magnum_lite.common import exception
from magnum_lite.drivers.heat import driver as heat_driver
from magnum_lite.drivers.heat import names, stacks
from tests.fakes import heat as fake_heat
from tests.fakes.heat import FakeHeatCloud
from tests.unit.drivers.heat.conftest import PROJECT

NODEGROUP = heat_driver.TEMPLATES / "nodegroup.yaml"
ENV = heat_driver.ENV


def _params(count=2, **extra):
    return {"name_prefix": "demo-abc123-workers-0", "node_count": count,
            "image": "ubuntu", "flavor": "m1.small", "network": "net", "subnet": "subnet",
            "security_group": "sg", "control_plane_host": "10.0.0.5",
            "user_data": "#!/bin/sh\necho __NODE_INDEX__\n", **extra}


def _client(cloud, project=PROJECT):
    return cloud.client_for(types.SimpleNamespace(project_id=project))


def _create(client, name="s1", count=2, envs=("base.yaml", "node_floating_ip.yaml")):
    return stacks.create(client, name, NODEGROUP, [ENV / e for e in envs], _params(count),
                         timeout_minutes=30)


@pytest.fixture
def cloud():
    return FakeHeatCloud()


def test_summary_properties():
    summary = stacks.StackSummary("id", "name", "UPDATE_IN_PROGRESS", "")
    assert (summary.action, summary.in_progress, summary.failed, summary.complete) == (
        "UPDATE", True, False, False)
    failed = stacks.StackSummary("id", "name", "DELETE_FAILED", "boom")
    assert failed.failed and failed.action == "DELETE"
    assert stacks.StackSummary("id", "name", "CREATE_COMPLETE", "").complete


def test_create_tags_the_stack_and_list_sees_only_the_project_s_tagged_stacks(cloud):
    client = _client(cloud)
    stack_id = _create(client)
    _create(_client(cloud, "other-project"), "theirs")
    # A stack magnum-lite did not make (no tag) is not listed.
    _client(cloud).stacks.create(stack_name="foreign", template={
        "heat_template_version": "2018-08-31", "resources": {}})
    listing = stacks.list_stacks(client)
    assert list(listing) == ["s1"]
    assert listing["s1"].id == stack_id
    assert listing["s1"].status == "CREATE_IN_PROGRESS"
    assert cloud.stack(stack_id).tags == [names.STACK_TAG]
    assert cloud.stack(stack_id).disable_rollback is True
    assert cloud.stack(stack_id).timeout_mins == 30


def test_create_of_an_existing_name_reuses_the_stack(cloud):
    client = _client(cloud)
    first = _create(client)
    assert _create(client) == first
    assert len(cloud.live_stacks()) == 1


def test_get_stack_reads_outputs_and_masks_hidden_parameters(cloud):
    client = _client(cloud)
    stack_id = _create(client, count=3)
    cloud.complete(stack_id)
    stack = stacks.get_stack(client, stack_id)
    assert stack.parameters["user_data"] == "******"
    assert stack.parameters["node_count"] == "3"  # Heat shows every value as a string
    outputs = stacks.outputs_of(stack)
    assert sorted(outputs["node_names"]) == ["0", "1", "2"]
    assert outputs["node_names"]["2"] == "demo-abc123-workers-0-2"
    assert all(a.startswith("127.") for a in outputs["node_floating_addresses"].values())


def test_get_stack_of_a_missing_stack_is_none(cloud):
    assert stacks.get_stack(_client(cloud), "no-such-stack") is None
    # Another project's stack is not found either.
    theirs = _create(_client(cloud, "other-project"), "theirs")
    assert stacks.get_stack(_client(cloud), theirs) is None


def test_delete_of_a_missing_stack_counts_as_deleted(cloud):
    client = _client(cloud)
    stack_id = _create(client)
    stacks.delete(client, stack_id)
    cloud.complete(stack_id)
    assert stacks.list_stacks(client) == {}
    stacks.delete(client, stack_id)  # gone: no error
    stacks.delete(client, "never-was")


def test_unreachable_heat_is_cloud_unreachable(cloud):
    client = _client(cloud)
    with cloud.outage():
        with pytest.raises(exception.CloudUnreachable) as err:
            stacks.list_stacks(client)
        with pytest.raises(exception.CloudUnreachable):
            stacks.get_stack(client, "x")
        with pytest.raises(exception.CloudUnreachable):
            _create(client)
    assert str(err.value).startswith("cannot reach Heat: listing stacks: ")
    assert "Connection refused" in str(err.value)
    assert isinstance(err.value.__cause__, ks_exceptions.ConnectFailure)
    assert stacks.list_stacks(client) == {}  # back


def test_a_read_whose_connection_drops_is_sent_once_more(cloud):
    client = _client(cloud)
    stack_id = _create(client)
    cloud.inject("stacks.get", ks_exceptions.ConnectFailure("Connection reset by peer"))
    assert stacks.get_stack(client, stack_id).id == stack_id
    for _ in range(2):
        cloud.inject("stacks.get", ks_exceptions.ConnectFailure("Connection reset by peer"))
    with pytest.raises(exception.CloudUnreachable, match="reading a stack: .*reset by peer"):
        stacks.get_stack(client, stack_id)
    # A timeout is not sent again (Heat is slow, not gone): the stack is read after it.
    cloud.inject("stacks.get", ks_exceptions.ConnectTimeout("read timed out"))
    with pytest.raises(exception.CloudUnreachable, match="timed out"):
        stacks.get_stack(client, stack_id)
    assert stacks.get_stack(client, stack_id).id == stack_id


def test_unauthorized_is_a_cloud_error_saying_so(cloud):
    client = _client(cloud)
    cloud.inject("stacks.create", heat_exc.HTTPUnauthorized(
        '{"error": {"message": "The request you have made requires authentication."}}'))
    with pytest.raises(exception.CloudError) as err:
        _create(client)
    assert not isinstance(err.value, exception.CloudUnreachable)
    assert str(err.value) == ("Heat: creating stack s1: not authorized: The request you have "
                              "made requires authentication.")
    cloud.inject("stacks.list", ks_exceptions.Unauthorized("token expired"))
    with pytest.raises(exception.CloudError, match="listing stacks: not authorized: token "
                                                   "expired"):
        stacks.list_stacks(client)


def test_bad_request_carries_heat_s_message(cloud):
    client = _client(cloud)
    with pytest.raises(exception.CloudError) as err:
        stacks.create(client, "s1", NODEGROUP, [ENV / "base.yaml"],
                      {**_params(), "bogus": 1}, 10)
    assert str(err.value) == ("Heat: creating stack s1: The Parameter (bogus) was not "
                              "defined in template.")
    assert isinstance(err.value.__cause__, heat_exc.HTTPBadRequest)


def test_conflict_without_a_stack_to_reuse_is_an_error(cloud):
    client = _client(cloud)
    cloud.inject("stacks.create", fake_heat._http_error(
        heat_exc.HTTPConflict, "StackExists", "The Stack (s1) already exists.", "Conflict"))
    with pytest.raises(exception.CloudError, match=r"already exists"):
        _create(client)


def test_service_unavailable_is_unreachable(cloud):
    client = _client(cloud)
    cloud.inject("stacks.get", heat_exc.HTTPServiceUnavailable("Heat is down"))
    with pytest.raises(exception.CloudUnreachable, match="reading a stack: Heat is down"):
        stacks.get_stack(client, "x")


def test_preview_refuses_a_stack_over_max_resources_per_stack(cloud):
    client = _client(cloud)
    envs = [ENV / "base.yaml", ENV / "node_floating_ip.yaml", ENV / "volume.yaml"]
    # The group and the credentials software config + 10 resources per node (member, port,
    # server, credentials deployment, fip slot + fip, volume slot + volume + attachment, lb
    # member slot): 2 + 10 * 99 = 992 fit in Heat's default 1000, 100 nodes do not.
    ok = stacks.preview(client, "p", NODEGROUP, envs, _params(99, docker_volume_size=10))
    [group] = [r for r in ok["resources"] if isinstance(r, list)]
    assert len(ok["resources"]) == 2 and len(group) == 1 + 99
    with pytest.raises(exception.CloudError) as err:
        stacks.preview(client, "p", NODEGROUP, envs, _params(100, docker_volume_size=10))
    assert "Maximum resources per stack exceeded" in str(err.value)
    assert isinstance(err.value.__cause__, heat_exc.HTTPBadRequest)


def test_update_parameters_patches_and_sets_rollback(cloud):
    client = _client(cloud)
    stack_id = _create(client, count=2)
    cloud.complete(stack_id)
    stacks.update_parameters(client, stack_id, {"node_count": 4}, rollback=True,
                             timeout_minutes=15)
    stack = cloud.stack(stack_id)
    assert stack.status == "UPDATE_IN_PROGRESS"
    assert stack.parameters["node_count"] == 4
    assert stack.parameters["image"] == "ubuntu"  # kept: PATCH
    assert stack.disable_rollback is False and stack.timeout_mins == 15
    assert cloud.calls[-1][0] == "stacks.update"


def _failed_summary(client, name):
    return stacks.list_stacks(client)[name]


def _reason_of(resources: list, stack_reason: str = "", limit: int = 3) -> str:
    """failure_reason of stack `s` (CREATE_FAILED) whose failed resources are `resources`."""
    client = types.SimpleNamespace(resources=types.SimpleNamespace(
        list=lambda *a, **k: resources))
    return stacks.failure_reason(
        client, stacks.StackSummary("top", "s", "CREATE_FAILED", stack_reason), limit=limit)


def test_failure_reason_names_the_deepest_failed_resource(cloud):
    client = _client(cloud)
    stack_id = _create(client, count=3)
    cloud.fail(stack_id, "nodes.1.server",
               "Quota exceeded for cores: Requested 4, but already used 20 of 20 cores")
    reason = stacks.failure_reason(client, _failed_summary(client, "s1"), limit=3)
    assert reason == ("stack s1 CREATE_FAILED: server (OS::Nova::Server): Quota exceeded for "
                      "cores: Requested 4, but already used 20 of 20 cores")


def test_failure_reason_of_a_nested_template_resource(cloud):
    client = _client(cloud)
    stack_id = _create(client, count=1)
    cloud.fail(stack_id, "nodes.0.floating_ip.floating_ip",
               "No more IP addresses available on network public.")
    reason = stacks.failure_reason(client, _failed_summary(client, "s1"), limit=3)
    assert reason.endswith("floating_ip (OS::Neutron::FloatingIP): No more IP addresses "
                           "available on network public.")


def test_failure_reason_limits_the_resources_named():
    resources = [_resource(f"r{i}", "OS::Nova::Server", "top", None, f"failed {i}")
                 for i in range(5)]
    reason = _reason_of(resources, "x", limit=2)
    assert reason == ("stack s CREATE_FAILED: r0 (OS::Nova::Server): failed 0; "
                      "r1 (OS::Nova::Server): failed 1 (and 3 more)")


def test_failure_reason_keeps_every_deepest_failure_of_a_tree():
    # Two members failed; their group and the members' stacks failed with them.
    resources = [
        _resource("nodes", "OS::Heat::ResourceGroup", "top", "group", "Error: nested"),
        _resource("0", "Magnum::Node", "group", "m0", "Error: nested"),
        _resource("1", "Magnum::Node", "group", "m1", "Error: nested"),
        _resource("server", "OS::Nova::Server", "m0", None, "No valid host was found."),
        _resource("port", "OS::Neutron::Port", "m1", None, "IP allocation failed."),
    ]
    reason = _reason_of(resources)
    assert reason == ("stack s CREATE_FAILED: server (OS::Nova::Server): No valid host was "
                      "found.; port (OS::Neutron::Port): IP allocation failed.")


def test_failure_reason_says_a_repeated_failure_once_with_its_parent():
    resources = [_resource("server", "OS::Nova::Server", f"m{i}", None, "No valid host.")
                 for i in range(3)]
    for r in resources:
        r.parent_resource = "node"
    reason = _reason_of(resources)
    assert reason == ("stack s CREATE_FAILED: server (OS::Nova::Server) in node: No valid "
                      "host. (x3)")


def test_failure_reason_falls_back_to_the_stack_s_reason(cloud):
    client = _client(cloud)
    stack_id = _create(client)
    cloud.fail(stack_id, None, "Timed out")
    summary = _failed_summary(client, "s1")
    assert stacks.failure_reason(client, summary, 3) == (
        "stack s1 CREATE_FAILED: Resource CREATE failed: Timed out")
    cloud.fail(stack_id, "nodes.0.server", "boom")
    for _ in range(2):  # a read is sent twice when its connection fails
        cloud.inject("resources.list", ks_exceptions.ConnectFailure("refused"))
    summary = _failed_summary(client, "s1")
    assert stacks.failure_reason(client, summary, 3).startswith(
        "stack s1 CREATE_FAILED: Resource CREATE failed: Error: resources.nodes")


def _resource(name, rtype, stack_id, nested_id, reason):
    links = [{"rel": "self", "href": f"http://h/v1/p/stacks/n/{stack_id}/resources/{name}"},
             {"rel": "stack", "href": f"http://h/v1/p/stacks/n/{stack_id}"}]
    if nested_id:
        links.append({"rel": "nested", "href": f"http://h/v1/p/stacks/n-{name}/{nested_id}"})
    return types.SimpleNamespace(resource_name=name, resource_type=rtype, links=links,
                                 resource_status="CREATE_FAILED",
                                 resource_status_reason=reason)


def test_not_found_on_update_is_a_cloud_error_naming_the_stack(cloud):
    with pytest.raises(exception.CloudError) as err:
        stacks.update_parameters(_client(cloud), "gone-id", {"node_count": 1},
                                 rollback=False)
    assert str(err.value) == ("Heat: updating stack gone-id: The Stack (gone-id) could not "
                              "be found.")
    assert isinstance(err.value.__cause__, heat_exc.HTTPNotFound)


def test_template_and_files_are_read_once():
    envs = [ENV / "base.yaml", ENV / "volume.yaml"]
    first = stacks.template_and_files(NODEGROUP, envs)
    assert stacks.template_and_files(NODEGROUP, list(envs)) is first
    tpl, files, env = first
    assert env["resource_registry"]["Magnum::Optional::Volume"] in files
    assert stacks.template_and_files(NODEGROUP, envs[:1]) is not first


def test_listing_finds_a_cluster_s_worker_stacks_by_index(cloud):
    client = _client(cloud)
    for name in ("c-1", "c-1-ng-a-0", "c-1-ng-b-0", "c-2-ng-a-0", "my-ng-c-3-ng-x-1"):
        _create(client, name)
    listing = stacks.list_stacks(client)
    assert sorted(listing.worker_stack_names("c-1")) == ["c-1-ng-a-0", "c-1-ng-b-0"]
    assert listing.worker_stack_names("my-ng-c-3") == ["my-ng-c-3-ng-x-1"]
    assert listing.worker_stack_names("c-9") == []


def test_failure_reason_of_a_stack_that_timed_out_says_so_first():
    """Heat cancels what a timed-out stack was building; the cancelled resources alone would
    hide why."""
    resources = [_resource("0", "Magnum::Node", "top", None, "resources[0]: Stack CREATE "
                                                             "cancelled")]
    reason = _reason_of(resources, "Timed out")
    assert reason == ("stack s CREATE_FAILED: Timed out; 0 (Magnum::Node): resources[0]: "
                      "Stack CREATE cancelled")


@pytest.mark.parametrize("error, never_sent", [
    (ks_exceptions.EndpointNotFound("no orchestration endpoint"), True),
    (ks_exceptions.DiscoveryFailure("no version document"), True),
    # keystoneauth raises these for a dropped connection or a read timeout too: Heat may have
    # the request.
    (ks_exceptions.ConnectFailure("connection aborted"), False),
    (ks_exceptions.ConnectTimeout("request timed out"), False),
    (ks_exceptions.ServiceUnavailable(), False),
])
def test_unreachable_heat_says_whether_the_request_was_ever_sent(error, never_sent):
    with pytest.raises(exception.CloudUnreachable) as raised:
        with stacks.heat_errors("creating stack s"):
            raise error
    assert raised.value.never_sent is never_sent
    assert str(raised.value).startswith("cannot reach Heat: creating stack s: ")


@pytest.fixture
def no_retry_wait(monkeypatch):
    monkeypatch.setattr(stacks, "CREATE_RETRY_WAIT", 0)


def test_a_create_whose_answer_is_lost_finds_the_stack_heat_made(cloud, no_retry_wait):
    client = _client(cloud)
    cloud.lose_answers("stacks.create")
    stack_id = _create(client)
    assert [s.id for s in cloud.live_stacks()] == [stack_id]
    assert [c[0] for c in cloud.calls] == ["stacks.create", "stacks.get"]


def test_a_create_sent_again_after_a_lost_answer_reuses_the_stack(cloud, no_retry_wait):
    client = _client(cloud)
    cloud.lose_answers("stacks.create")
    # The lookup gets no answer either: the create is sent again and Heat's 409 finds it.
    cloud.inject("stacks.get", ks_exceptions.ConnectTimeout("read timed out"))
    stack_id = _create(client)
    assert [s.id for s in cloud.live_stacks()] == [stack_id]
    assert [c[0] for c in cloud.calls] == ["stacks.create", "stacks.create", "stacks.get"]


def test_a_create_never_answered_fails_after_its_attempts_with_one_stack_made(
        cloud, no_retry_wait):
    client = _client(cloud)
    cloud.lose_answers("stacks.create", stacks.CREATE_ATTEMPTS)
    for _ in range(stacks.CREATE_ATTEMPTS - 1):
        cloud.inject("stacks.get", ks_exceptions.ConnectTimeout("read timed out"))
    with pytest.raises(exception.CloudUnreachable) as err:
        _create(client)
    assert not err.value.never_sent
    assert len(cloud.live_stacks()) == 1  # found later by its name


def test_a_refused_connection_was_never_sent_and_is_not_retried(cloud, no_retry_wait):
    client = _client(cloud)
    with cloud.outage():
        with pytest.raises(exception.CloudUnreachable) as err:
            _create(client)
    assert err.value.never_sent
    assert cloud.calls == []


def test_a_read_timeout_may_have_reached_heat(cloud):
    cloud.inject("stacks.list", ks_exceptions.ConnectTimeout("read timed out"))
    with pytest.raises(exception.CloudUnreachable) as err:
        stacks.list_stacks(_client(cloud))
    assert not err.value.never_sent


def test_several_stacks_are_read_side_by_side_and_a_gone_one_is_none():
    """get_stacks: the reads overlap (each waits here until all three are under way)."""
    under_way = threading.Barrier(3, timeout=10)
    shown = {"a": "stack a", "b": "stack b"}

    def get(stack_id):
        under_way.wait()
        if stack_id not in shown:
            raise heat_exc.HTTPNotFound(f"stack {stack_id} not found")
        return shown[stack_id]

    client = types.SimpleNamespace(stacks=types.SimpleNamespace(get=get))
    assert stacks.get_stacks(client, ["a", "b", "gone", "a"]) == {
        "a": "stack a", "b": "stack b", "gone": None}


def test_a_failed_read_among_several_is_the_check_s_error():
    def get(stack_id):
        if stack_id == "b":
            raise ks_exceptions.ConnectFailure("Connection refused")
        return stack_id

    client = types.SimpleNamespace(stacks=types.SimpleNamespace(get=get))
    with pytest.raises(exception.CloudUnreachable):
        stacks.get_stacks(client, ["a", "b"])


def test_a_create_heat_failed_inside_is_sent_again(cloud, no_retry_wait):
    """Heat's 500 (its own call to Keystone for the stack's trust failed) made no stack:
    the create is looked up by name, then sent again."""
    client = _client(cloud)
    cloud.inject("stacks.create", fake_heat._http_error(
        heat_exc.HTTPInternalServerError, "Forbidden",
        "You are not authorized to perform the requested action: identity:create_trust.",
        "Internal Server Error"))
    stack_id = _create(client)
    assert [s.id for s in cloud.live_stacks()] == [stack_id]
    # (the fake records the calls it answered: the failed create is not among them)
    assert [c[0] for c in cloud.calls] == ["stacks.get", "stacks.create"]


def test_a_create_heat_fails_inside_every_time_is_an_error_after_its_attempts(
        cloud, no_retry_wait):
    client = _client(cloud)
    for _ in range(stacks.CREATE_ATTEMPTS):
        cloud.inject("stacks.create", fake_heat._http_error(
            heat_exc.HTTPInternalServerError, "Forbidden", "identity:create_trust",
            "Internal Server Error"))
    with pytest.raises(exception.CloudError, match="identity:create_trust"):
        _create(client)
    assert cloud.live_stacks() == []
    # Looked up by name after each failed send but the last.
    assert [c[0] for c in cloud.calls] == ["stacks.get"] * (stacks.CREATE_ATTEMPTS - 1)
