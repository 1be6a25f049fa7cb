"""The simulation's template set and ``prepare()``: checked against the real types' schemas
recorded in templates/schemas.json (written by templates/generate.py from Heat 27 itself), so
Heat's facade check cannot fail in the sandbox for a reason these tests could have caught."""

import json
import os
import subprocess
import sys

import pytest
import yaml

from magnum_lite_sandbox import simulation

PARAM_TYPE = {"String": "string", "Integer": "number", "Number": "number",
              "Boolean": "boolean", "List": "comma_delimited_list", "Map": "json"}

with open(os.path.join(simulation.TEMPLATES_DIR, "schemas.json"), encoding="utf-8") as _f:
    SCHEMAS = json.load(_f)["types"]

TYPES = sorted(simulation.SIMULATED_TYPES)


def load(type_name: str) -> dict:
    path = os.path.join(simulation.TEMPLATES_DIR, simulation.SIMULATED_TYPES[type_name])
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def test_every_type_of_the_issue_is_simulated():
    expected = {f"OS::Nova::{t}" for t in ("Server", "ServerGroup", "KeyPair")}
    expected |= {f"OS::Neutron::{t}" for t in (
        "Net", "Subnet", "Port", "Router", "RouterInterface", "SecurityGroup",
        "SecurityGroupRule", "FloatingIP", "FloatingIPAssociation")}
    expected |= {f"OS::Octavia::{t}" for t in (
        "LoadBalancer", "Listener", "Pool", "PoolMember", "HealthMonitor")}
    expected |= {"OS::Cinder::Volume", "OS::Cinder::VolumeAttachment"}
    assert set(simulation.SIMULATED_TYPES) == expected
    assert set(SCHEMAS) == expected


@pytest.mark.parametrize("type_name", TYPES)
def test_template_is_a_resourceless_hot_template(type_name):
    tmpl = load(type_name)
    assert str(tmpl["heat_template_version"]) >= "2016-10-14"  # conditions and `if`
    if type_name == "OS::Nova::Server":
        # Only the fault flavors' test resources, each under its condition.
        assert {name: (r["type"], r["condition"]) for name, r in tmpl["resources"].items()} == {
            "no_valid_host": ("OS::Heat::TestResource", "fail_requested"),
            "never_active": ("OS::Heat::TestResource", "hang_requested")}
    else:
        assert tmpl["resources"] == {}


@pytest.mark.parametrize("type_name", TYPES)
def test_parameters_match_the_real_properties(type_name):
    params = load(type_name)["parameters"]
    props = SCHEMAS[type_name]["properties"]
    assert set(params) == set(props)
    for name, prop in props.items():
        # A List must be a comma_delimited_list (json fails the facade check), a Map json.
        assert params[name]["type"] == PARAM_TYPE[prop["type"]], name
        # Optional properties need a default, or the provider would require them.
        assert ("default" in params[name]) is (not prop["required"]), name


@pytest.mark.parametrize("type_name", TYPES)
def test_outputs_cover_every_attribute_and_the_stack_id(type_name):
    outputs = load(type_name)["outputs"]
    assert set(SCHEMAS[type_name]["attributes"]) <= set(outputs)
    assert "show" in outputs
    assert outputs["OS::stack_id"] == {"value": {"get_param": "OS::stack_id"}}


@pytest.mark.parametrize("type_name", TYPES)
def test_outputs_only_reference_declared_parameters(type_name):
    tmpl = load(type_name)
    refs: list[str] = []

    def walk(value):
        if isinstance(value, dict):
            if set(value) == {"get_param"}:
                refs.append(value["get_param"])
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(tmpl["outputs"])
    walk(tmpl.get("conditions", {}))
    for ref in refs:
        assert ref.startswith("OS::") or ref in tmpl["parameters"], ref


@pytest.mark.parametrize("type_name", TYPES)
def test_conditions_are_declared_where_used(type_name):
    tmpl = load(type_name)
    text = json.dumps(tmpl["outputs"])
    if '"has_name"' in text:
        assert "has_name" in tmpl.get("conditions", {})


def test_server_outputs_plausible_addresses():
    outputs = load("OS::Nova::Server")["outputs"]
    assert "yaql" in outputs["first_address"]["value"]
    # yaql data lives under $.data in HOT.
    assert "$.data." in outputs["first_address"]["value"]["yaql"]["expression"]
    assert set(outputs["networks"]["value"]) == {"private"}


def test_prepare_writes_the_global_environment(tmp_path):
    result = simulation.prepare(str(tmp_path))
    env_dir = tmp_path / "heat" / "environment.d"
    assert result == {"plugin_dirs": [simulation.PLUGINS_DIR], "environment_dir": str(env_dir)}
    assert os.path.isabs(result["plugin_dirs"][0])
    assert os.path.isdir(result["plugin_dirs"][0])
    files = os.listdir(env_dir)
    assert files == [simulation.ENVIRONMENT_FILE]
    with open(env_dir / files[0], encoding="utf-8") as f:
        env = yaml.safe_load(f)
    registry = env["resource_registry"]
    assert set(registry) == set(simulation.SIMULATED_TYPES)
    for url in registry.values():
        assert url.startswith("file:///")
        assert os.path.isfile(url[len("file://"):])
    # Re-running is harmless and leaves one file.
    assert simulation.prepare(str(tmp_path)) == result
    assert os.listdir(env_dir) == [simulation.ENVIRONMENT_FILE]


def test_plugins_cover_the_sandbox_behaviours():
    names = sorted(f for f in os.listdir(simulation.PLUGINS_DIR) if f.endswith(".py"))
    assert names == ["sandbox_constraints.py", "sandbox_db_pool.py",
                     "sandbox_fast_converge.py", "sandbox_fast_poll.py",
                     "sandbox_yaql_lock.py"]
    # Not a package: nothing in magnum_lite may import code that needs heat.
    assert not os.path.exists(os.path.join(simulation.PLUGINS_DIR, "__init__.py"))


def test_prepare_command_prints_json(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "magnum_lite_sandbox.simulation", "prepare",
         "--state-dir", str(tmp_path)], check=True, capture_output=True, text=True).stdout
    assert json.loads(out)["environment_dir"] == str(tmp_path / "heat" / "environment.d")
