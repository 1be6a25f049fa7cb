"""The fake Heat itself: the behaviours of Heat the driver tests rely on."""

import threading
import types

from heatclient import exc as heat_exc
from keystoneauth1 import exceptions as ks_exceptions
import pytest

from magnum_lite.drivers.heat import driver as heat_driver
from magnum_lite.drivers.heat import stacks
from tests.fakes.heat import FakeHeatCloud

ENVS = [heat_driver.ENV / "base.yaml", heat_driver.ENV / "node_floating_ip.yaml"]


def _client(cloud, project="p1"):
    return cloud.client_for(types.SimpleNamespace(project_id=project))


def _fields(name, count=2, **params):
    tpl, files, env = stacks.template_and_files(heat_driver.TEMPLATES / "nodegroup.yaml",
                                                ENVS)
    return {"stack_name": name, "template": tpl, "files": files, "environment": env,
            "tags": "magnum-lite", "parameters": {
                "name_prefix": name, "node_count": count, "image": "i", "flavor": "f",
                "network": "n", "subnet": "s", "security_group": "g",
                "control_plane_host": "10.0.0.2", "user_data": "x", **params}}


def test_create_answers_like_heat():
    cloud = FakeHeatCloud()
    created = _client(cloud).stacks.create(**_fields("a"))
    assert set(created) == {"stack"} and set(created["stack"]) == {"id", "links"}
    assert created["stack"]["links"][0]["rel"] == "self"
    with pytest.raises(heat_exc.HTTPConflict) as err:
        _client(cloud).stacks.create(**_fields("a"))
    assert str(err.value) == "ERROR: The Stack (a) already exists."
    _client(cloud, "p2").stacks.create(**_fields("a"))  # names are per project


def test_missing_and_invalid_parameters_are_bad_requests():
    client = _client(FakeHeatCloud())
    fields = _fields("a")
    del fields["parameters"]["image"]
    with pytest.raises(heat_exc.HTTPBadRequest, match=r"The Parameter \(image\) was not "
                                                      "provided"):
        client.stacks.create(**fields)
    with pytest.raises(heat_exc.HTTPBadRequest, match="node_count"):
        client.stacks.create(**_fields("a", count=-1))
    with pytest.raises(heat_exc.HTTPBadRequest, match="node_count"):
        client.stacks.create(**_fields("a", count="many"))


def test_list_is_lazy_and_progress_follows_observations():
    cloud = FakeHeatCloud(complete_after=2)
    client = _client(cloud)
    stack_id = client.stacks.create(**_fields("a"))["stack"]["id"]
    listing = client.stacks.list(tags="magnum-lite")
    with cloud.outage():
        with pytest.raises(ks_exceptions.ConnectFailure):
            list(listing)  # the request happens on iteration, as heatclient's
    assert [s.stack_status for s in client.stacks.list()] == ["CREATE_IN_PROGRESS"]
    assert client.stacks.get(stack_id).stack_status == "CREATE_COMPLETE"
    client.stacks.delete(stack_id)
    assert [s.stack_status for s in client.stacks.list()] == ["DELETE_IN_PROGRESS"]
    assert list(client.stacks.list()) == []  # deleted stacks disappear


def test_a_deleted_stack_is_found_by_id_only_and_its_name_is_free():
    cloud = FakeHeatCloud()
    client = _client(cloud)
    stack_id = client.stacks.create(**_fields("a"))["stack"]["id"]
    client.stacks.delete(stack_id)
    cloud.complete(stack_id)
    assert client.stacks.get(stack_id).stack_status == "DELETE_COMPLETE"
    with pytest.raises(heat_exc.HTTPNotFound, match=r"The Stack \(a\) could not be found"):
        client.stacks.get("a")
    with pytest.raises(heat_exc.HTTPNotFound):
        client.stacks.delete(stack_id)
    assert client.stacks.create(**_fields("a"))["stack"]["id"] != stack_id


def test_other_projects_see_nothing():
    cloud = FakeHeatCloud()
    stack_id = _client(cloud).stacks.create(**_fields("a"))["stack"]["id"]
    other = _client(cloud, "p2")
    assert list(other.stacks.list()) == []
    for call in (lambda: other.stacks.get(stack_id), lambda: other.stacks.delete(stack_id),
                 lambda: other.resources.list(stack_id)):
        with pytest.raises(heat_exc.HTTPNotFound):
            call()


def test_removal_policies_blacklist_members_for_good():
    cloud = FakeHeatCloud()
    client = _client(cloud)
    stack_id = client.stacks.create(**_fields("a", count=4))["stack"]["id"]
    cloud.complete(stack_id)
    # A member named by its resource name, another by its physical (nested stack) id.
    refs = cloud._scope(cloud.stack(stack_id)).attr("nodes", ["refs"])
    client.stacks.update(stack_id, existing=True, parameters={
        "node_count": 2, "removal_policies": [{"resource_list": ["0", refs[2]]}]})
    assert cloud.stack(stack_id).status == "UPDATE_IN_PROGRESS"
    cloud.complete(stack_id)
    assert sorted(cloud.outputs(stack_id)["node_names"]) == ["1", "3"]
    client.stacks.update(stack_id, existing=True, parameters={"node_count": 4,
                                                              "removal_policies": []})
    assert sorted(cloud.outputs(stack_id)["node_names"]) == ["1", "3", "4", "5"]
    # Shrinking without a policy drops the highest names.
    client.stacks.update(stack_id, existing=True, parameters={"node_count": 3})
    assert sorted(cloud.outputs(stack_id)["node_names"]) == ["1", "3", "4"]


def test_outputs_are_stable_and_hidden_parameters_masked():
    cloud = FakeHeatCloud()
    client = _client(cloud)
    stack_id = client.stacks.create(**_fields("a", count=2))["stack"]["id"]
    first = stacks.outputs_of(client.stacks.get(stack_id))
    client.stacks.update(stack_id, existing=True, parameters={"node_count": 3})
    second = stacks.outputs_of(client.stacks.get(stack_id))
    for key in ("node_ids", "node_private_addresses", "node_floating_addresses"):
        assert {k: second[key][k] for k in ("0", "1")} == first[key]
    assert len(set(second["node_private_addresses"].values())) == 3
    shown = client.stacks.get(stack_id).parameters
    assert shown["user_data"] == "******" and shown["OS::stack_id"] == stack_id
    assert shown["removal_policies"] == "[]"


def test_update_of_a_deleting_stack_is_refused():
    cloud = FakeHeatCloud()
    client = _client(cloud)
    stack_id = client.stacks.create(**_fields("a"))["stack"]["id"]
    client.stacks.delete(stack_id)
    with pytest.raises(heat_exc.HTTPBadRequest, match="deleting"):
        client.stacks.update(stack_id, existing=True, parameters={"node_count": 1})


def test_failed_resources_nest_like_heat_s():
    cloud = FakeHeatCloud()
    client = _client(cloud)
    stack_id = client.stacks.create(**_fields("a", count=2))["stack"]["id"]
    cloud.fail(stack_id, "nodes.1.server", "No valid host was found.")
    top = client.resources.list(stack_id, filters={"status": "FAILED"})
    assert [r.resource_name for r in top] == ["nodes"]
    deep = client.resources.list(stack_id, nested_depth=5, filters={"status": "FAILED"})
    assert [(r.resource_name, r.resource_type) for r in deep] == [
        ("nodes", "OS::Heat::ResourceGroup"), ("1", "Magnum::Node"),
        ("server", "OS::Nova::Server")]
    links = [{link["rel"]: link["href"] for link in r.links} for r in deep]
    # Each failed resource's nested stack is the stack of the next one down.
    assert links[0]["nested"] == links[1]["stack"]
    assert links[1]["nested"] == links[2]["stack"]
    assert "nested" not in links[2]
    assert deep[2].resource_status == "CREATE_FAILED"
    assert deep[2].resource_status_reason == "No valid host was found."
    assert deep[0].resource_status_reason == (
        "Error: resources.nodes.resources[1].resources.server: No valid host was found.")
    assert deep[1].stack_name == links[1]["stack"].split("/")[-2]  # heatclient's property
    with pytest.raises(ValueError, match="no resource bogus"):
        cloud.fail(stack_id, "nodes.0.bogus")


def test_a_resource_marked_unhealthy_is_replaced_by_the_next_update_like_heat_s():
    """Heat's PATCH /stacks/{stack}/resources/{name}: CHECK_FAILED in that very stack (a
    member's nested stack here), by name or physical id; an update of the stack above
    replaces it, and nothing else."""
    cloud = FakeHeatCloud()
    client = _client(cloud)
    stack_id = client.stacks.create(**_fields("a", count=3))["stack"]["id"]
    cloud.complete(stack_id)
    servers = [r for r in client.resources.list(stack_id, nested_depth=2,
                                                filters={"name": "server"})]
    assert len(servers) == 3 and all(r.resource_status == "CREATE_COMPLETE" for r in servers)
    ids = cloud.outputs(stack_id)["node_ids"]
    assert sorted(r.physical_resource_id for r in servers) == sorted(ids.values())
    [one] = [r for r in servers if r.physical_resource_id == ids["1"]]
    owner = {link["rel"]: link["href"] for link in one.links}["stack"]
    member_stack = "/".join(owner.split("/")[-2:])
    with pytest.raises(heat_exc.HTTPNotFound, match="bogus"):
        client.resources.mark_unhealthy(member_stack, "bogus", True, "r")
    client.resources.mark_unhealthy(member_stack, ids["1"], True, "sick")  # by physical id
    [marked] = client.resources.list(stack_id, nested_depth=2, filters={"status": "FAILED"})
    assert (marked.resource_name, marked.resource_status, marked.resource_status_reason) == (
        "server", "CHECK_FAILED", "sick")
    client.resources.mark_unhealthy(member_stack, "server", False, "fine")  # reset
    assert not client.resources.list(stack_id, nested_depth=2, filters={"status": "FAILED"})
    client.resources.mark_unhealthy(member_stack, "server", True, "sick")
    client.stacks.update(stack_id, existing=True, parameters={})
    with pytest.raises(heat_exc.HTTPConflict):  # the resources are locked while it runs
        client.resources.mark_unhealthy(member_stack, "server", True, "sick")
    assert cloud.outputs(stack_id)["node_ids"] == ids  # replaced when the update is done
    cloud.complete(stack_id)
    after = cloud.outputs(stack_id)["node_ids"]
    assert after["1"] != ids["1"] and (after["0"], after["2"]) == (ids["0"], ids["2"])
    assert not client.resources.list(stack_id, nested_depth=2, filters={"status": "FAILED"})


def test_planned_failure_hits_when_the_stack_would_complete():
    cloud = FakeHeatCloud(complete_after=1)
    client = _client(cloud)
    cloud.fail_on_completion("a", "nodes.0.port", "IP allocation failed")
    client.stacks.create(**_fields("a"))
    [summary] = client.stacks.list()
    assert summary.stack_status == "CREATE_FAILED"
    assert "IP allocation failed" in summary.stack_status_reason


def test_a_create_over_the_limit_fails_like_heat():
    cloud = FakeHeatCloud(max_resources_per_stack=50)
    client = _client(cloud)
    # The group and the credentials software config + 8 per node (member, port, server,
    # credentials deployment, fip slot + fip, volume slot, lb slot).
    ok = client.stacks.create(**_fields("ok", count=6))["stack"]["id"]
    assert cloud.resource_count(ok) == 50
    big = client.stacks.create(**_fields("big", count=7))["stack"]["id"]
    assert cloud.stack(big).status == "CREATE_FAILED"
    assert "Maximum resources per stack exceeded" in cloud.stack(big).reason
    with pytest.raises(heat_exc.HTTPBadRequest, match="Maximum resources per stack"):
        client.stacks.preview(**_fields("big2", count=7))
    preview = client.stacks.preview(**_fields("small", count=1)).to_dict()
    assert preview["parameters"]["user_data"] == "******"
    assert [r["resource_type"] if isinstance(r, dict) else r[0]["resource_type"]
            for r in preview["resources"]] == ["OS::Heat::SoftwareConfig",
                                               "OS::Heat::ResourceGroup"]


def test_injected_errors_hit_the_next_call_only():
    cloud = FakeHeatCloud()
    client = _client(cloud)
    cloud.inject("stacks.get", heat_exc.HTTPForbidden("no"))
    with pytest.raises(heat_exc.HTTPForbidden):
        client.stacks.get("x")
    with pytest.raises(heat_exc.HTTPNotFound):
        client.stacks.get("x")


def test_a_thousand_stacks_from_many_threads():
    cloud = FakeHeatCloud(complete_after=3)
    fields = [_fields(f"s{i}", count=1) for i in range(1000)]
    errors = []

    def work(part):
        try:
            client = _client(cloud)
            for f in part:
                client.stacks.create(**f)
                if f["stack_name"].endswith("7"):  # some listings race the creates
                    list(client.stacks.list(tags="magnum-lite"))
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(fields[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    live = cloud.live_stacks("p1")
    assert len(live) == 1000 and len({s.id for s in live}) == 1000
    for _ in range(3):
        list(_client(cloud).stacks.list())
    assert {s.status for s in cloud.live_stacks()} == {"CREATE_COMPLETE"}
    addresses = [a for s in live for a in cloud.outputs(s.id)["node_private_addresses"]
                 .values()]
    assert len(set(addresses)) == 1000
